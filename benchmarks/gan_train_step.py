"""GAN train step (one D update + one G update): jaxgen vs PyTorch eager, side by side.

Two architectures, each timed interleaved in one process:

  mlp     the course's MLP GAN (G 100-256-512-1024-784, D 784-1024-512-256-1,
          LeakyReLU 0.2, dropout 0.3 in D), batch 256, Adam(2e-4, 0.5)
  dcgan   jaxgen's DCGAN (G: Dense -> 7x7x128, BN, two stride-2 4x4 transposed
          convs 64/32 with BN, 3x3 conv, tanh; D: four 4x4 stride-2 convs
          32/64/128/256, LeakyReLU, Dense), batch 64, Adam(2e-4, 0.5)

jaxgen runs the engine's jitted, state-donated step (`make_train_call`) of the
`gan` / `dcgan` family; PyTorch runs the textbook eager loop: D step on real and
detached fakes (BCE with logits), then G step on fresh latents with the
non-saturating loss, zero_grad / backward / Adam step for each. Both get the same
random uint8 batches and map them to [-1, 1] inside the timed step. The timing,
machine description and report files are benchmarks/harness.py's.

    nice -n 19 python benchmarks/gan_train_step.py          # 20 steps x 3 repeats

Results go to <out-dir>/gan_train_step.{json,md}.
"""
from __future__ import annotations

import harness

D_CHANNELS = (32, 64, 128, 256)  # the dcgan family's default d_channels
SETTINGS = {"mlp": {"family": "gan", "batch_size": 256}, "dcgan": {"family": "dcgan", "batch_size": 64}}


def jaxgen_config(arch: str):
    from jaxgen.engine.config import build_config
    s = SETTINGS[arch]
    return build_config(s["family"], overrides={"batch_size": str(s["batch_size"])})


# --------------------------------------------------------------------------- PyTorch


def build_torch_gan(arch: str):
    from torch import nn

    leaky = lambda: nn.LeakyReLU(0.2)  # noqa: E731
    if arch == "mlp":
        g = nn.Sequential(nn.Linear(100, 256), leaky(), nn.Linear(256, 512), leaky(),
                          nn.Linear(512, 1024), leaky(), nn.Linear(1024, 784), nn.Tanh())
        d = nn.Sequential(nn.Flatten(),
                          nn.Linear(784, 1024), leaky(), nn.Dropout(0.3),
                          nn.Linear(1024, 512), leaky(), nn.Dropout(0.3),
                          nn.Linear(512, 256), leaky(), nn.Dropout(0.3), nn.Linear(256, 1))
        return g, d

    class Unflatten(nn.Module):
        def forward(self, x):
            return x.view(-1, 128, 7, 7)

    # padding=1 with k=4, s=2 matches 'SAME' on 28 -> 14 -> 7 and 7 -> 14 -> 28.
    g = nn.Sequential(nn.Linear(100, 7 * 7 * 128), Unflatten(), nn.BatchNorm2d(128), nn.ReLU(),
                      nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                      nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
                      nn.Conv2d(32, 1, 3, 1, 1), nn.Tanh())
    # D: jaxgen's default four 4x4 stride-2 blocks, 28 -> 14 -> 7 -> 4 -> 2,
    # each padded as XLA's 'SAME' pads it (7 -> 4 needs 1 before and 2 after).
    layers, size, width_in = [], 28, 1
    for width in D_CHANNELS:
        out = -(-size // 2)
        total = max((out - 1) * 2 + 4 - size, 0)
        before, after = total // 2, total - total // 2
        layers += [nn.ZeroPad2d((before, after, before, after)),  # left, right, top, bottom
                   nn.Conv2d(width_in, width, 4, 2, 0), leaky()]
        size, width_in = out, width
    d = nn.Sequential(*layers, nn.Flatten(), nn.Linear(size * size * width_in, 1))
    return g, d


def torch_step(arch: str, host_batches, seed: int = 0) -> harness.TorchStep:
    """The eager GAN step as a `harness.TorchStep` over G's optimizer: the loss
    function first does the whole D update (zero_grad, BCE on real and detached
    fakes, backward, Adam step), then returns G's non-saturating loss on fresh
    latents, which TorchStep backpropagates and steps (its zero_grad of G comes
    first, which is the same since the D update leaves G's gradients untouched)."""
    import torch
    from torch import nn
    F = nn.functional
    torch.manual_seed(seed)
    g, d = build_torch_gan(arch)
    # BN running statistics are buffers, not parameters (as in jaxgen's state.extra).
    model = nn.ModuleDict({"g": g, "d": d})
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def loss_fn(m, pixels):
        real = pixels.float() / 127.5 - 1.0
        b = real.shape[0]
        ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)
        opt_d.zero_grad(set_to_none=True)
        fake = m["g"](torch.randn(b, 100)).view(b, 1, 28, 28).detach()
        d_loss = (F.binary_cross_entropy_with_logits(m["d"](real), ones)
                  + F.binary_cross_entropy_with_logits(m["d"](fake), zeros))
        d_loss.backward()
        opt_d.step()
        fake = m["g"](torch.randn(b, 100)).view(b, 1, 28, 28)
        return F.binary_cross_entropy_with_logits(m["d"](fake), ones)

    return harness.TorchStep(model, loss_fn, opt_g, harness.torch_nchw(host_batches))


# --------------------------------------------------------------------------- main


def time_arch(arch: str, args) -> dict:
    batch = SETTINGS[arch]["batch_size"]
    host_batches = harness.random_image_batches(batch, args.num_batches)
    impls = {"jaxgen": harness.EngineStep(jaxgen_config(arch), host_batches, loss_key="g_loss"),
             "pytorch": torch_step(arch, host_batches)}
    harness.add_compiled_peer(impls, args, lambda: torch_step(arch, host_batches))
    num_params = harness.check_same_size(impls)
    results = harness.time_interleaved(impls, batch, args.steps, args.repeats, args.warmup,
                                       label=f"{arch} ")
    return {"batch_size": batch, "parameters": num_params, "results": results,
            "ratio": harness.ratios_to(results)["jaxgen/pytorch"]}


def main(argv=None) -> dict:
    p = harness.arg_parser(__doc__.split("\n")[0], steps=20, repeats=3, torch_device=True)
    p.add_argument("--archs", default="mlp,dcgan")
    args = p.parse_args(argv)
    harness.setup_torch(args.torch_device)
    report = {"benchmark": "gan_train_step", **harness.environment(),
              "command": harness.command_line("gan_train_step.py", argv),
              "settings": {"steps_per_run": args.steps, "repeats": args.repeats,
                           "warmup_steps": args.warmup, "num_batches": args.num_batches,
                           "data": "random uint8 [B, 28, 28, 1], same batches for all",
                           "optimizer": "Adam lr 2e-4, betas (0.5, 0.999), G and D"},
              "archs": {}}
    for arch in args.archs.split(","):
        report["archs"][arch] = time_arch(arch, args)
    report["goal"] = {arch: {"ratio": a["ratio"], "met": a["ratio"] >= harness.GOAL_RATIO}
                      for arch, a in report["archs"].items()}
    harness.write_report(args.out_dir, "gan_train_step", report, markdown)
    return report


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = ["# GAN train step (one D update + one G update): jaxgen vs PyTorch eager", "",
             *harness.header_lines(report),
             f"- {s['warmup_steps']} warmup steps, then {s['repeats']} interleaved runs of "
             f"{s['steps_per_run']} steps; median", "",
             "| architecture | batch | parameters | jaxgen ex/s | PyTorch ex/s | jaxgen / PyTorch "
             f"| goal {harness.GOAL_RATIO}x |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for arch, a in report["archs"].items():
        r = a["results"]
        lines.append(f"| {arch} | {a['batch_size']} | {a['parameters']} | "
                     f"{r['jaxgen']['examples_per_second']:.0f} | "
                     f"{r['pytorch']['examples_per_second']:.0f} | {a['ratio']:.2f}x | "
                     f"{'met' if report['goal'][arch]['met'] else 'not met'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
