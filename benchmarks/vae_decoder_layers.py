"""Where the VAE train step's time goes: each decoder layer, forward + backward.

The VAE benchmark (`vae_train_step.py`) finds jaxgen's step about 2x slower
than PyTorch eager; this one times the decoder's layers one by one (gradient
of sum(y^2) with respect to the weights and the input, batch 100), jaxgen's
`fast` GEMM form and `subpixel` form against the PyTorch layer, interleaved.

    python benchmarks/vae_decoder_layers.py

Results go to <out-dir>/vae_decoder_layers.{json,md}.
"""
from __future__ import annotations

import harness

# (input size, input channels, output channels, kind): the reference decoder,
# three stride-2 3x3 transposed convolutions then a 3x3 output convolution.
LAYERS = [(4, 128, 128, "transpose"), (8, 128, 64, "transpose"), (16, 64, 32, "transpose"),
          (32, 32, 1, "conv")]


class JaxLayerGrad:
    """Jitted gradient of sum(layer(x)^2) with respect to (params, x)."""

    def __init__(self, module, x):
        import jax
        import jax.numpy as jnp
        self._jax = jax
        self.params = module.init(jax.random.key(0), x)
        self.num_params = harness.count_params(self.params)
        self.x = x
        self.grad = jax.jit(jax.grad(lambda p, x: jnp.sum(module.apply(p, x) ** 2),
                                     argnums=(0, 1)))

    def run(self, steps: int) -> float:
        import time
        start = time.perf_counter()
        for _ in range(steps):
            out = self.grad(self.params, self.x)
        self._jax.block_until_ready(out)
        return time.perf_counter() - start

    def last_loss(self) -> float:
        return 0.0


class TorchLayerGrad:
    def __init__(self, layer, x):
        self.layer, self.x = layer, x.requires_grad_(True)
        self.num_params = sum(p.numel() for p in layer.parameters())

    def run(self, steps: int) -> float:
        import time
        start = time.perf_counter()
        for _ in range(steps):
            self.layer.zero_grad(set_to_none=True)
            self.x.grad = None
            (self.layer(self.x) ** 2).sum().backward()
        return time.perf_counter() - start

    def last_loss(self) -> float:
        return 0.0


def layer_impls(size: int, c_in: int, c_out: int, kind: str, batch: int) -> dict:
    import jax.numpy as jnp
    import numpy as np
    import torch
    from jaxgen.nn import fast_conv
    from jaxgen.nn.upsample import ConvTransposeSubpixel

    x = np.random.default_rng(0).random((batch, size, size, c_in), np.float32)  # [B, H, W, C]
    x_torch = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    if kind == "transpose":
        impls = {"jaxgen[fast]": JaxLayerGrad(fast_conv.ConvTranspose(c_out, 3, 2), jnp.asarray(x)),
                 "jaxgen[subpixel]": JaxLayerGrad(ConvTransposeSubpixel(c_out, 3, 2),
                                                  jnp.asarray(x)),
                 "pytorch": TorchLayerGrad(torch.nn.ConvTranspose2d(c_in, c_out, 3, 2, 1, 1),
                                           x_torch)}
    else:
        impls = {"jaxgen[fast]": JaxLayerGrad(fast_conv.Conv(c_out, 3, 1), jnp.asarray(x)),
                 "pytorch": TorchLayerGrad(torch.nn.Conv2d(c_in, c_out, 3, 1, 1), x_torch)}
    harness.check_same_size(impls)
    return impls


def main(argv=None) -> dict:
    p = harness.arg_parser(__doc__.split("\n")[0], steps=20)
    p.add_argument("--batch-size", type=int, default=100)
    args = p.parse_args(argv)
    harness.setup_torch()
    report = {"benchmark": "vae_decoder_layers", **harness.environment(),
              "command": harness.command_line("vae_decoder_layers.py", argv),
              "settings": {"batch_size": args.batch_size, "steps_per_run": args.steps,
                           "repeats": args.repeats, "warmup_steps": args.warmup},
              "layers": {}}
    for size, c_in, c_out, kind in LAYERS:
        name = f"{kind} {size}x{size}x{c_in} -> {c_out}"
        impls = layer_impls(size, c_in, c_out, kind, args.batch_size)
        report["layers"][name] = harness.time_interleaved(
            impls, args.batch_size, args.steps, args.repeats, args.warmup, label=f"{name}: ")
    harness.write_report(args.out_dir, "vae_decoder_layers", report, markdown)
    return report


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = ["# VAE decoder layers, forward + backward: jaxgen vs PyTorch eager", "",
             *harness.header_lines(report),
             f"- batch {s['batch_size']}; gradient of sum(y^2) with respect to weights and input; "
             f"{s['warmup_steps']} warmup calls, then {s['repeats']} interleaved runs of "
             f"{s['steps_per_run']} calls; median reported", "",
             "| layer | implementation | ms/call | vs PyTorch |", "|---|---|---:|---:|"]
    for layer, results in report["layers"].items():
        ref = results["pytorch"]["ms_per_step"]
        for name, r in results.items():
            lines.append(f"| {layer} | {name} | {r['ms_per_step']:.2f} | "
                         f"{ref / r['ms_per_step']:.2f}x |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
