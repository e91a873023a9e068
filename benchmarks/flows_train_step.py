"""RealNVP train step: jaxgen (jitted, donated engine step) vs PyTorch eager, side by side.

The architecture is experiments/flows/realnvp_fmnist.py: uniform dequantization
and the logit transform, then two levels -- [3 checkerboard couplings, squeeze,
3 channel couplings, factor out half] on 28x28x1, [3 checkerboard couplings] on
14x14x2 -- each coupling's conditioner a residual conv net (3x3 convs, 32
channels, one residual block, zero-initialised output conv, log-scale
`scale * tanh(raw)`); loss = NLL in nats per image; Adam with global-norm
clipping. Both sides run the same batches of random uint8 images, interleaved
(`--repeats` runs of `--steps` steps each, the median reported).

    python benchmarks/flows_train_step.py            # defaults: batch 64, 20 steps x 3 repeats

Results go to <out-dir>/flows_train_step.{json,md}.
"""
from __future__ import annotations

import math
import os

import numpy as np

import harness

CONFIG_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                           "experiments", "flows", "realnvp_fmnist.py")


# --------------------------------------------------------------------------- PyTorch


def build_torch_realnvp(config):
    """jaxgen's RealNVP (realnvp_fmnist.py) in PyTorch, NCHW. The squeeze orders
    channels differently (C major instead of minor): the same layer sizes and FLOPs."""
    import torch
    from torch import nn

    hidden, blocks, alpha = config.hidden, config.num_blocks, config.logit_alpha

    class Conditioner(nn.Module):
        def __init__(self, c_in, c_out):
            super().__init__()
            self.first = nn.Conv2d(c_in, hidden, 3, padding=1)
            self.blocks = nn.ModuleList(
                nn.ModuleList([nn.Conv2d(hidden, hidden, 3, padding=1),
                               nn.Conv2d(hidden, hidden, 3, padding=1)]) for _ in range(blocks))
            self.last = nn.Conv2d(hidden, 2 * c_out, 3, padding=1)
            nn.init.zeros_(self.last.weight)
            nn.init.zeros_(self.last.bias)
            self.scale = nn.Parameter(torch.ones(1, c_out, 1, 1))

        def forward(self, x):
            h = torch.relu(self.first(x))
            for a, b in self.blocks:
                h = torch.relu(h + b(torch.relu(a(h))))
            raw, shift = self.last(h).chunk(2, dim=1)
            return self.scale * torch.tanh(raw), shift

    class Checkerboard(nn.Module):
        def __init__(self, c, size, parity):
            super().__init__()
            rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
            mask = ((rows + cols + parity) % 2 == 0).astype(np.float32)
            self.register_buffer("mask", torch.from_numpy(mask)[None, None])
            self.net = Conditioner(c, c)

        def forward(self, x):
            log_scale, shift = self.net(x * self.mask)
            log_scale, shift = log_scale * (1 - self.mask), shift * (1 - self.mask)
            return x * torch.exp(log_scale) + shift, log_scale.sum(dim=(1, 2, 3))

    class ChannelCoupling(nn.Module):
        def __init__(self, c, parity):
            super().__init__()
            self.half, self.parity = c // 2, parity
            self.net = Conditioner(self.half, c - self.half)

        def forward(self, x):
            a, b = x[:, :self.half], x[:, self.half:]
            fixed, moved = (a, b) if self.parity == 0 else (b, a)
            log_scale, shift = self.net(fixed)
            moved = moved * torch.exp(log_scale) + shift
            out = (fixed, moved) if self.parity == 0 else (moved, fixed)
            return torch.cat(out, dim=1), log_scale.sum(dim=(1, 2, 3))

    def squeeze(x):
        b, c, h, w = x.shape
        x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
        return x.reshape(b, 4 * c, h // 2, w // 2)

    s = config.steps_per_level

    class RealNVP(nn.Module):
        def __init__(self):
            super().__init__()
            self.level0_a = nn.ModuleList(Checkerboard(1, 28, i % 2) for i in range(s))
            self.level0_b = nn.ModuleList(ChannelCoupling(4, i % 2) for i in range(s))
            self.level1 = nn.ModuleList(Checkerboard(2, 14, i % 2) for i in range(s))

        def loss(self, pixels):
            """pixels uint8 [B, 1, 28, 28] -> mean NLL in nats per image."""
            y = (pixels.float() + torch.rand(pixels.shape)) / 256.0
            q = alpha + (1 - 2 * alpha) * y
            x = torch.log(q) - torch.log1p(-q)
            log_det = (math.log(1 - 2 * alpha) - torch.log(q) - torch.log1p(-q)).sum(dim=(1, 2, 3))
            for layer in self.level0_a:
                x, ld = layer(x)
                log_det = log_det + ld
            x = squeeze(x)
            for layer in self.level0_b:
                x, ld = layer(x)
                log_det = log_det + ld
            z1, x = x[:, :2], x[:, 2:]
            for layer in self.level1:
                x, ld = layer(x)
                log_det = log_det + ld
            z = torch.cat([z1.flatten(1), x.flatten(1)], dim=1)
            log_prior = -0.5 * (z ** 2 + math.log(2 * math.pi)).sum(dim=1)
            return -(log_prior + log_det - 784 * math.log(256)).mean()

    return RealNVP()


def torch_step(config, host_batches, seed: int = 0) -> harness.TorchStep:
    """Eager PyTorch step of the same RealNVP: Adam with global-norm clipping."""
    import torch
    torch.manual_seed(seed)
    model = build_torch_realnvp(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.optim.learning_rate)
    return harness.TorchStep(model, lambda m, pixels: m.loss(pixels), optimizer,
                             harness.torch_nchw(host_batches),
                             clip_norm=config.optim.grad_clip_norm)


# --------------------------------------------------------------------------- main


def main(argv=None) -> dict:
    p = harness.arg_parser(__doc__.split("\n")[0], steps=20, torch_device=True)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args(argv)
    from jaxgen.engine.config import build_config

    harness.setup_torch(args.torch_device)
    report = {"benchmark": "flows_train_step", **harness.environment(),
              "command": harness.command_line("flows_train_step.py", argv)}
    from jaxgen.nn.fast_conv import CONV_CHOICES

    configs = {conv: build_config(config_file=CONFIG_FILE,
                                  overrides={"batch_size": str(args.batch_size), "conv": conv})
               for conv in CONV_CHOICES}
    default = build_config(config_file=CONFIG_FILE).conv
    host_batches = harness.random_image_batches(args.batch_size, args.num_batches)
    impls = {f"jaxgen[{conv}]": harness.EngineStep(c, host_batches) for conv, c in configs.items()}
    impls["pytorch"] = torch_step(configs[default], host_batches)
    harness.add_compiled_peer(impls, args, lambda: torch_step(configs[default], host_batches))
    num_params = harness.check_same_size(impls)
    results = harness.time_interleaved(impls, args.batch_size, args.steps, args.repeats,
                                       args.warmup)
    ratios = harness.ratios_to(results)
    ratio = ratios[f"jaxgen[{default}]/pytorch"]
    report.update({
        "settings": {"config": "experiments/flows/realnvp_fmnist.py",
                     "batch_size": args.batch_size, "steps_per_run": args.steps,
                     "repeats": args.repeats, "warmup_steps": args.warmup,
                     "parameters": num_params, "default_conv": default,
                     "data": "random uint8 [B, 28, 28, 1], same batches for both"},
        "results": results, "ratios": ratios, "ratio_jaxgen_over_pytorch": ratio,
        "goal": {"jaxgen/pytorch >=": harness.GOAL_RATIO, "met": ratio >= harness.GOAL_RATIO}})
    harness.write_report(args.out_dir, "flows_train_step", report, markdown)
    return report


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = ["# RealNVP train step: jaxgen vs PyTorch eager", "",
             *harness.header_lines(report),
             f"- architecture {s['config']}, batch {s['batch_size']}, {s['parameters']} "
             f"parameters; {s['warmup_steps']} warm-up steps, then {s['repeats']} interleaved "
             f"runs of {s['steps_per_run']} steps, median; {s['data']}", "",
             *harness.results_table(report["results"]), "",
             f"jaxgen[{s['default_conv']}] (the default) / PyTorch = "
             f"{report['ratio_jaxgen_over_pytorch']:.2f}x "
             f"(goal {harness.GOAL_RATIO}x: {'met' if report['goal']['met'] else 'not met'}).", "",
             "jaxgen[flax]: the conditioners' convolutions are flax's nn.Conv (config "
             "`conv=flax`, the default); jaxgen[fast]: jaxgen.nn.fast_conv's GEMM forms "
             "(`conv=fast`), the same function and parameters.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
