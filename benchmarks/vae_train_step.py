"""VAE train step: jaxgen (jitted, donated engine step) vs PyTorch eager, side by side.

One process times, interleaved, four train steps of the same VAE on the same
batches:

  jaxgen[fast]       the engine's own jitted, state-donated step
                     (`jaxgen.engine.loop.make_train_call`) with the default
                     decoder (`jaxgen.nn.fast_conv`): transposed convs with a
                     GEMM weight gradient, output conv as GEMMs;
  jaxgen[subpixel]   the same step, decoder upsampling as sub-pixel convolutions;
  jaxgen[transpose]  the same step with flax `nn.ConvTranspose` in the decoder
                     (all three: same function and parameters);
  pytorch            an eager PyTorch step of the same architecture: zero_grad,
                     forward, loss, backward, Adam step.

Each repetition runs `--steps` steps of every implementation in turn, so all
three see the same machine conditions; the table reports the median over
`--repeats` repetitions. Data are random uint8 images [B, 28, 28, 1] (speed does
not depend on pixel values); both frameworks get the same batches and both
convert them to floats in [0, 1] padded to 32x32 inside the timed step.

    python benchmarks/vae_train_step.py            # defaults: 30 steps x 3 repeats

Results go to <out-dir>/vae_train_step.{json,md}.
"""
from __future__ import annotations

import harness

PAD = 2  # 28x28 -> 32x32, the reference architecture's input size


def jaxgen_config(upsample: str, batch_size: int, latent_dim: int):
    """The engine's VAE config with the benchmark's settings."""
    from jaxgen.engine.config import build_config
    return build_config("vae", overrides={"batch_size": str(batch_size),
                                          "latent_dim": str(latent_dim),
                                          "upsample": upsample, "steps_per_call": "1"})


# --------------------------------------------------------------------------- PyTorch


def build_torch_vae(latent_dim: int):
    import torch
    from torch import nn

    class TorchVAE(nn.Module):
        """jaxgen's VAE in PyTorch (NCHW).

        Encoder convs: PyTorch's padding=1 pads 1 pixel on both sides, whereas
        TF/Flax 'SAME' with k=3, s=2 on an even input pads 0 before and 1 after.
        Both give 32 -> 16 -> 8 -> 4 with the same kernels and the same FLOPs;
        the taps are shifted by one pixel, which does not matter for speed.
        Decoder: ConvTranspose2d(k=3, s=2, padding=1, output_padding=1) doubles
        the size like Flax's ConvTranspose 'SAME' (again up to tap placement).
        The flatten order differs (C,H,W vs H,W,C): same Dense layers.
        """

        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(
                nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU(),
                nn.Flatten(),
            )
            self.mean = nn.Linear(4 * 4 * 128, latent_dim)
            self.log_var = nn.Linear(4 * 4 * 128, latent_dim)
            self.dec_in = nn.Linear(latent_dim, 4 * 4 * 128)
            self.dec = nn.Sequential(
                nn.ConvTranspose2d(128, 128, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                nn.ConvTranspose2d(128, 64, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                nn.Conv2d(32, 1, 3, padding=1),
            )

        def loss(self, pixels):
            """pixels uint8 [B, 1, 28, 28] -> mean over the batch of BCE(sum) + KL."""
            targets = pixels.float() / 255.0
            x = nn.functional.pad(targets, (PAD, PAD, PAD, PAD))           # [B, 1, 32, 32]
            h = self.enc(x)
            mean, log_var = self.mean(h), self.log_var(h)
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
            logits = self.dec(self.dec_in(z).view(-1, 128, 4, 4))          # [B, 1, 32, 32]
            logits = logits[:, :, PAD:-PAD, PAD:-PAD]
            recon = nn.functional.binary_cross_entropy_with_logits(
                logits, targets, reduction="none").sum(dim=(1, 2, 3))
            kl = 0.5 * (torch.exp(log_var) + mean ** 2 - 1.0 - log_var).sum(dim=1)
            return (recon + kl).mean()

    return TorchVAE()


def torch_step(latent_dim: int, host_batches, seed: int = 0) -> harness.TorchStep:
    import torch
    torch.manual_seed(seed)
    model = build_torch_vae(latent_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)  # eps 1e-8 as optax
    return harness.TorchStep(model, lambda m, pixels: m.loss(pixels), optimizer,
                             harness.torch_nchw(host_batches))


# --------------------------------------------------------------------------- main


def main(argv=None) -> dict:
    p = harness.arg_parser(__doc__.split("\n")[0], torch_device=True)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--latent-dim", type=int, default=2)
    args = p.parse_args(argv)
    harness.setup_torch(args.torch_device)
    report = {"benchmark": "vae_train_step", **harness.environment(),
              "command": harness.command_line("vae_train_step.py", argv)}

    host_batches = harness.random_image_batches(args.batch_size, args.num_batches)
    impls = {f"jaxgen[{up}]": harness.EngineStep(
                 jaxgen_config(up, args.batch_size, args.latent_dim), host_batches)
             for up in ("fast", "subpixel", "transpose")}
    impls["pytorch"] = torch_step(args.latent_dim, host_batches)
    harness.add_compiled_peer(impls, args, lambda: torch_step(args.latent_dim, host_batches))
    num_params = harness.check_same_size(impls)

    results = harness.time_interleaved(impls, args.batch_size, args.steps, args.repeats,
                                       args.warmup)
    ratios = harness.ratios_to(results)
    ratios["jaxgen[fast]/jaxgen[transpose]"] = round(
        results["jaxgen[fast]"]["examples_per_second"]
        / results["jaxgen[transpose]"]["examples_per_second"], 3)
    report.update({
        "settings": {"batch_size": args.batch_size, "latent_dim": args.latent_dim,
                     "steps_per_run": args.steps, "repeats": args.repeats,
                     "warmup_steps": args.warmup, "num_batches": args.num_batches,
                     "data": "random uint8 [B, 28, 28, 1], same batches for all",
                     "optimizer": "Adam lr 1e-3", "parameters": num_params},
        "results": results, "ratios": ratios,
        "goal": {"jaxgen/pytorch >=": harness.GOAL_RATIO,
                 "met": ratios["jaxgen[fast]/pytorch"] >= harness.GOAL_RATIO}})
    harness.write_report(args.out_dir, "vae_train_step", report, markdown)
    return report


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        "# VAE train step: jaxgen vs PyTorch eager", "",
        *harness.header_lines(report),
        f"- batch {s['batch_size']}, latent dim {s['latent_dim']}, {s['parameters']} parameters, "
        f"{s['optimizer']}; {s['data']}",
        f"- {s['warmup_steps']} warmup steps, then {s['repeats']} interleaved runs of "
        f"{s['steps_per_run']} steps each; median reported",
        "",
        *harness.results_table(report["results"]),
        "",
        "Ratios: " + ", ".join(f"{k} = {val:.2f}" for k, val in report["ratios"].items()),
        "",
        f"Goal (jaxgen[fast] >= {harness.GOAL_RATIO}x PyTorch): "
        f"{'met' if report['goal']['met'] else 'not met'}.",
        "",
        "jaxgen: the engine's jitted train step with the state donated "
        "(`jaxgen.engine.loop.make_train_call`); `fast` (the default) keeps XLA's forward and "
        "input gradient of the decoder's stride-2 transposed convolutions and replaces their "
        "weight gradient by one GEMM, and computes the output conv as GEMMs with hand-written "
        "gradients (`jaxgen.nn.fast_conv`), `subpixel` as convolution + depth-to-space, "
        "`transpose` uses flax `nn.ConvTranspose` (all the same function and parameters). "
        "PyTorch: eager step "
        "(zero_grad, forward, loss, backward, Adam step), NCHW, same layer sizes.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
