"""Gated PixelCNN: jaxgen's train step vs PyTorch eager, and the two samplers.

One process, three measurements on the same machine:

  train step   jaxgen's engine step (`jaxgen.engine.loop.make_train_call`:
               jitted, state donated) of the `pixelcnn` family, against an eager
               PyTorch step of the same network (the vertical and horizontal
               stacks written the idiomatic PyTorch way, as convolutions with
               (r+1) x k and 1 x (r+1) kernels on shifted padding: exactly the
               taps jaxgen's TapConv uses, same parameter count, same
               discretized logistic mixture loss). Interleaved runs, median.
  samplers     images/s of jaxgen's naive sampler (one full forward pass per
               pixel, the whole raster loop in one jitted program) and of the
               cached sampler (only what a new pixel changes), same key.

    nice -n 19 python benchmarks/pixelcnn_train_step.py          # ~5 min on 2 loaded cores

Results go to <out-dir>/pixelcnn_train_step.{json,md}.
"""
from __future__ import annotations

import functools
import time

import numpy as np

import harness

ARCH = dict(hidden_channels=32, num_layers=6, kernel_size=3, first_kernel_size=7, head_hidden=64,
            num_mixtures=5)


def jaxgen_config(batch_size: int):
    from jaxgen.engine.config import build_config
    overrides = {k: str(v) for k, v in ARCH.items()}
    overrides.update(architecture="gated", head="logistic_mixture", batch_size=str(batch_size),
                     **{"optim.grad_clip_norm": "0", "optim.learning_rate": "0.001"})
    return build_config("pixelcnn", overrides=overrides)


# --------------------------------------------------------------------------- PyTorch


def build_torch_gated_pixelcnn():
    import torch
    from torch import nn
    from torch.nn import functional as F

    c, L, m = ARCH["hidden_channels"], ARCH["num_layers"], ARCH["num_mixtures"]
    k, k0 = ARCH["kernel_size"], ARCH["first_kernel_size"]

    class Stack(nn.Module):
        """One gated layer: vertical conv over rows above (and the current row
        after layer 0), horizontal conv over the row to the left (and the centre
        after layer 0), 1x1 link v -> h, gated units, 1x1 output, residual."""

        def __init__(self, first: bool):
            super().__init__()
            cin, kk = (1, k0) if first else (c, k)
            self.first, self.r = first, kk // 2
            rows = self.r if first else self.r + 1
            cols = self.r if first else self.r + 1
            self.v = nn.Conv2d(cin, 2 * c, (rows, kk))
            self.h = nn.Conv2d(cin, 2 * c, (1, cols))
            self.link = nn.Conv2d(2 * c, 2 * c, 1)
            self.out = nn.Conv2d(c, c, 1)

        def forward(self, v, h):
            hgt, wid, r = v.shape[2], v.shape[3], self.r
            v_pre = self.v(F.pad(v, (r, r, r, 0)))[:, :, :hgt]         # [B, 2C, H, W]
            h_pre = self.h(F.pad(h, (r, 0, 0, 0)))[:, :, :, :wid] + self.link(v_pre)
            gate = lambda t: torch.tanh(t[:, :c]) * torch.sigmoid(t[:, c:])  # noqa: E731
            out = self.out(gate(h_pre))
            return gate(v_pre), out if self.first else h + out

    class GatedPixelCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([Stack(i == 0) for i in range(L)])
            self.hidden = nn.Conv2d(c, ARCH["head_hidden"], 1)
            self.head = nn.Conv2d(ARCH["head_hidden"], 3 * m, 1)

        def loss(self, pixels):
            """pixels uint8 [B, 1, 28, 28] -> mean NLL in nats per image."""
            x = pixels.float() / 255.0 * 2.0 - 1.0
            v = h = x
            for layer in self.layers:
                v, h = layer(v, h)
            out = self.head(F.relu(self.hidden(F.relu(h))))                 # [B, 3M, H, W]
            logits, mean, log_scale = out[:, :m], out[:, m:2 * m] + 0.5, out[:, 2 * m:]
            log_scale = torch.clamp(log_scale, min=-7.0)
            value = pixels.float()                                          # [B, 1, H, W]
            xv = value / 255.0
            half, inv = 0.5 / 255.0, torch.exp(-log_scale)
            upper, lower = (xv + half - mean) * inv, (xv - half - mean) * inv
            log_cdf_upper = -F.softplus(-upper)
            log_surv_lower = -F.softplus(lower)
            interior = log_cdf_upper + log_surv_lower + torch.log(-torch.expm1(-2 * half * inv))
            log_comp = torch.where(value == 0, log_cdf_upper,
                                   torch.where(value == 255, log_surv_lower, interior))
            log_p = torch.logsumexp(F.log_softmax(logits, dim=1) + log_comp, dim=1)
            return -log_p.sum(dim=(1, 2)).mean()

    return GatedPixelCNN()


def torch_step(host_batches, seed: int = 0) -> harness.TorchStep:
    """Eager PyTorch train step: zero_grad, forward, loss, backward, Adam step."""
    import torch
    torch.manual_seed(seed)
    model = build_torch_gated_pixelcnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return harness.TorchStep(model, lambda m, pixels: m.loss(pixels), optimizer,
                             harness.torch_nchw(host_batches))


# --------------------------------------------------------------------------- samplers


def time_samplers(config, state, num: int) -> dict:
    """Images/s of both samplers (compiled first), and whether they agree."""
    import jax
    from jaxgen.autoregressive import sampling
    out = {}
    grids = {}
    for sampler in ("naive", "cached"):
        cfg = config.copy_and_resolve_references()
        cfg.sampler = sampler
        fn = jax.jit(functools.partial(sampling.sample, cfg), static_argnames="num")
        jax.block_until_ready(fn(state, jax.random.key(1), num=num))  # compile
        start = time.perf_counter()
        grids[sampler] = np.asarray(jax.block_until_ready(fn(state, jax.random.key(0), num=num)))
        seconds = time.perf_counter() - start
        out[sampler] = {"seconds": round(seconds, 3), "images_per_second": round(num / seconds, 3)}
    out["cached/naive"] = round(out["cached"]["images_per_second"]
                                / out["naive"]["images_per_second"], 1)
    out["identical_samples"] = bool(np.array_equal(grids["naive"], grids["cached"]))
    out["num_images"] = num
    return out


# --------------------------------------------------------------------------- main


def main(argv=None) -> dict:
    p = harness.arg_parser(__doc__.split("\n")[0], steps=10, repeats=3, torch_device=True)
    p.set_defaults(warmup=2)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--sample-num", type=int, default=4, help="images per sampler call")
    args = p.parse_args(argv)
    harness.setup_torch(args.torch_device)
    report = {"benchmark": "pixelcnn_train_step", **harness.environment(),
              "command": harness.command_line("pixelcnn_train_step.py", argv)}
    host_batches = harness.random_image_batches(args.batch_size, args.num_batches)
    config = jaxgen_config(args.batch_size)
    impls = {"jaxgen": harness.EngineStep(config, host_batches),
             "pytorch": torch_step(host_batches)}
    harness.add_compiled_peer(impls, args, lambda: torch_step(host_batches))
    num_params = harness.check_same_size(impls)
    results = harness.time_interleaved(impls, args.batch_size, args.steps, args.repeats,
                                       args.warmup)
    ratio = harness.ratios_to(results)["jaxgen/pytorch"]
    print("timing samplers ...", flush=True)
    samplers = time_samplers(config, impls["jaxgen"].state, args.sample_num)
    report.update({
        "settings": {"batch_size": args.batch_size, "steps_per_run": args.steps,
                     "repeats": args.repeats, "warmup_steps": args.warmup,
                     "num_batches": args.num_batches, "architecture": ARCH,
                     "parameters": num_params, "optimizer": "Adam lr 1e-3",
                     "data": "random uint8 [B, 28, 28, 1]"},
        "train_step": results,
        "jaxgen/pytorch": ratio,
        "goal": {"jaxgen/pytorch >=": harness.GOAL_RATIO, "met": ratio >= harness.GOAL_RATIO},
        "samplers": samplers,
    })
    harness.write_report(args.out_dir, "pixelcnn_train_step", report, markdown)
    return report


def markdown(report: dict) -> str:
    s, smp = report["settings"], report["samplers"]
    lines = [
        "# Gated PixelCNN: train step vs PyTorch eager; naive vs cached sampler", "",
        *harness.header_lines(report),
        f"- network {s['architecture']}, {s['parameters']} parameters, batch {s['batch_size']}, "
        f"{s['optimizer']}, {s['data']}; {s['warmup_steps']} warmup steps, then {s['repeats']} "
        f"interleaved runs of {s['steps_per_run']} steps, median", "",
        *harness.results_table(report["train_step"]), "",
        f"jaxgen / PyTorch: **{report['jaxgen/pytorch']:.2f}x** (goal >= "
        f"{report['goal']['jaxgen/pytorch >=']}: "
        f"{'met' if report['goal']['met'] else 'not met'}).", "",
        f"Samplers ({smp['num_images']} images per call, jitted, compiled beforehand):", "",
        "| sampler | seconds | images/s |", "|---|---:|---:|",
        *(f"| {name} | {smp[name]['seconds']} | {smp[name]['images_per_second']} |"
          for name in ("naive", "cached")), "",
        f"cached / naive: **{smp['cached/naive']}x**; identical samples for the same "
        f"key: {smp['identical_samples']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
