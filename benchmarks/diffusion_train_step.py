"""Diffusion U-Net train step, jaxgen vs PyTorch eager, and the samplers' images/s.

One process, interleaved repetitions (median reported):

  jaxgen[flax]   the engine's jitted, state-donated step
                 (`jaxgen.engine.loop.make_train_call`) of the `ddpm` family with
                 the U-Net of experiments/diffusion/pixel_cond.py, flax convolutions;
  jaxgen[fast]   the same step with jaxgen.nn.fast_conv convolutions (same function);
  pytorch        an eager PyTorch step of the same architecture and parameter count
                 (NCHW): draw t and noise, forward, MSE on eps, backward, clip,
                 Adam, EMA update (what the jaxgen step does).

Then the images/s of jaxgen's samplers (the family's `sample`, one jitted
lax.scan per chain) for DDIM with 10 and 50 steps and DDPM with 1000 steps.

    nice -n 19 python benchmarks/diffusion_train_step.py

Results go to <out-dir>/diffusion_train_step.{json,md}.
"""
from __future__ import annotations

import functools
import math
import os
import statistics
import time

import numpy as np

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_FILE = os.path.join(HERE, "..", "experiments", "diffusion", "pixel_cond.py")


# --------------------------------------------------------------------------- jaxgen


def jaxgen_config(conv: str, batch_size: int):
    from jaxgen.engine.config import build_config
    return build_config(config_file=CONFIG_FILE,
                        overrides={"conv": conv, "batch_size": str(batch_size)})


# --------------------------------------------------------------------------- pytorch


def torch_unet(channels: int, mults, num_classes: int):
    """The U-Net of jaxgen.diffusion.models in PyTorch (same layers and sizes)."""
    import torch
    from torch import nn

    def gn(c):
        return nn.GroupNorm(min(8, c), c)

    class ResBlock(nn.Module):
        def __init__(self, c_in, c_out, emb):
            super().__init__()
            self.norm1, self.conv1 = gn(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
            self.emb = nn.Linear(emb, c_out)
            self.norm2, self.conv2 = gn(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
            self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

        def forward(self, x, e):
            h = self.conv1(nn.functional.silu(self.norm1(x)))
            h = h + self.emb(nn.functional.silu(e))[:, :, None, None]
            h = self.conv2(nn.functional.silu(self.norm2(h)))
            return self.skip(x) + h

    class Attention(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm, self.qkv, self.out = gn(c), nn.Linear(c, 3 * c), nn.Linear(c, c)

        def forward(self, x):
            b, c, h, w = x.shape
            q, k, v = self.qkv(self.norm(x).flatten(2).transpose(1, 2)).chunk(3, dim=-1)
            a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1)
            return x + self.out(a @ v).transpose(1, 2).reshape(b, c, h, w)

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            c, e = channels, 4 * channels
            self.t1, self.t2 = nn.Linear(c, e), nn.Linear(e, e)
            self.label = nn.Embedding(num_classes + 1, e)
            self.conv_in = nn.Conv2d(1, c, 3, padding=1)
            self.down, skip_c, h = nn.ModuleList(), [c], c
            for level, m in enumerate(mults):
                self.down.append(ResBlock(h, c * m, e))
                h = c * m
                skip_c.append(h)
                if level != len(mults) - 1:
                    self.down.append(nn.Conv2d(h, h, 3, stride=2, padding=1))
                    skip_c.append(h)
            self.mid = nn.ModuleList([ResBlock(h, h, e), Attention(h), ResBlock(h, h, e)])
            self.up = nn.ModuleList()
            for level in reversed(range(len(mults))):
                for _ in range(2):
                    self.up.append(ResBlock(h + skip_c.pop(), c * mults[level], e))
                    h = c * mults[level]
                if level != 0:
                    self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                 nn.Conv2d(h, h, 3, padding=1)))
            self.norm_out, self.conv_out = gn(h), nn.Conv2d(h, 1, 3, padding=1)

        def forward(self, x, t, y):
            half = channels // 2
            freqs = torch.exp(-math.log(10000.0) * torch.arange(half) / half)
            ang = t.float()[:, None] * freqs[None]
            e = self.t2(nn.functional.silu(self.t1(torch.cat([ang.sin(), ang.cos()], -1))))
            e = e + self.label(y)
            h = self.conv_in(x)
            skips = [h]
            for layer in self.down:
                h = layer(h, e) if isinstance(layer, ResBlock) else layer(h)
                skips.append(h)
            h = self.mid[2](self.mid[1](self.mid[0](h, e)), e)
            for layer in self.up:
                h = layer(torch.cat([h, skips.pop()], 1), e) if isinstance(layer, ResBlock) \
                    else layer(h)
            return self.conv_out(nn.functional.silu(self.norm_out(h)))

    return UNet()


class ClipAdamEMA:
    """Adam after global-norm clipping at 1, then an EMA of the weights: the
    optimizer part of the jaxgen step (optax.chain(clip, adam) + ema_update)."""

    def __init__(self, model, lr: float, ema_rate: float, clip_norm: float = 1.0):
        import torch
        self.torch, self.params = torch, list(model.parameters())
        self.adam = torch.optim.Adam(self.params, lr=lr)
        self.ema = [p.detach().clone() for p in self.params]
        self.ema_rate, self.clip_norm = ema_rate, clip_norm

    def zero_grad(self, set_to_none=True):
        self.adam.zero_grad(set_to_none=set_to_none)

    def step(self):
        self.torch.nn.utils.clip_grad_norm_(self.params, self.clip_norm)
        self.adam.step()
        with self.torch.no_grad():
            self.torch._foreach_lerp_(self.ema, self.params, self.ema_rate)


def torch_step(config, host_batches) -> harness.TorchStep:
    """Eager PyTorch step of the same objective: t, noise and label dropout drawn,
    eps-MSE, backward, clip + Adam + EMA."""
    import torch
    torch.manual_seed(0)
    model = torch_unet(config.base_channels, tuple(config.channel_mults), 10)
    betas = np.linspace(config.beta_start, config.beta_end, config.num_timesteps)
    alpha_bar = torch.tensor(np.cumprod(1 - betas), dtype=torch.float32)

    def loss_fn(m, batch):
        pixels, labels = batch
        x0 = pixels.float() * (2 / 255) - 1
        t = torch.randint(0, config.num_timesteps, (len(x0),))
        eps = torch.randn_like(x0)
        ab = alpha_bar[t][:, None, None, None]
        labels = torch.where(torch.rand(len(x0)) < config.label_dropout, 10, labels)
        return torch.mean((m(ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t, labels) - eps) ** 2)

    batches = [(pixels, torch.from_numpy(b["label"]).long())
               for pixels, b in zip(harness.torch_nchw(host_batches), host_batches)]
    optimizer = ClipAdamEMA(model, config.optim.learning_rate, 1 - config.ema_decay,
                            config.optim.grad_clip_norm)
    return harness.TorchStep(model, loss_fn, optimizer, batches)


# --------------------------------------------------------------------------- samplers


def sampler_images_per_second(settings, num: int, repeats: int = 1) -> dict:
    """images/s of `family.sample` (jitted as `jaxgen.load` does), compile excluded;
    the median of `repeats` calls."""
    import jax
    from jaxgen import data, registry
    from jaxgen.engine.config import apply_overrides
    family = registry.get("ddpm")
    base = jaxgen_config("flax", num)
    batch = {"image": np.zeros((num,) + data.image_shape(base), np.uint8),
             "label": np.zeros(num, np.int32)}
    state = jax.jit(functools.partial(family.init, base))(jax.random.key(0), batch)
    out = {}
    for name, overrides in settings.items():
        config = apply_overrides(base, overrides)
        fn = jax.jit(functools.partial(family.sample, config), static_argnames="num")
        jax.block_until_ready(fn(state, jax.random.key(0), num=num))  # compile
        calls = []
        for r in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(fn(state, jax.random.key(1 + r), num=num))
            calls.append(time.perf_counter() - start)
        seconds = statistics.median(calls)
        out[name] = {"images_per_second": round(num / seconds, 2),
                     "seconds_per_image": round(seconds / num, 4),
                     "seconds_per_call": [round(c, 4) for c in calls]}
        print(f"sampler {name:10s} {num / seconds:9.2f} images/s", flush=True)
    return out


SAMPLERS = {"ddim-10": {"sampler": "ddim", "sample_steps": "10"},
            "ddim-50": {"sampler": "ddim", "sample_steps": "50"},
            "ddpm-1000": {"sampler": "ddpm", "sample_steps": "1000"}}


def main(argv=None) -> dict:
    p = harness.arg_parser(__doc__.split("\n")[0], steps=5, repeats=3, torch_device=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--sample-num", type=int, default=20, help="images per sampler call")
    p.add_argument("--sample-repeats", type=int, default=1, help="timed sampler calls (median)")
    args = p.parse_args(argv)
    harness.setup_torch(args.torch_device)
    report = {"benchmark": "diffusion_train_step", **harness.environment(),
              "command": harness.command_line(
                  "diffusion_train_step.py", argv,
                  prefix="nice -n 19 " if args.torch_device == "cpu" else "")}
    host_batches = harness.random_image_batches(args.batch_size, args.num_batches)
    impls = {f"jaxgen[{conv}]": harness.EngineStep(jaxgen_config(conv, args.batch_size),
                                                   host_batches)
             for conv in ("flax", "fast")}
    impls["pytorch"] = torch_step(impls["jaxgen[flax]"].config, host_batches)
    harness.add_compiled_peer(impls, args,
                              lambda: torch_step(impls["jaxgen[flax]"].config, host_batches))
    num_params = harness.check_same_size(impls)
    results = harness.time_interleaved(impls, args.batch_size, args.steps, args.repeats,
                                       args.warmup)
    ratios = harness.ratios_to(results)
    samplers = sampler_images_per_second(SAMPLERS, args.sample_num, args.sample_repeats)
    speedup = samplers["ddim-50"]["images_per_second"] / samplers["ddpm-1000"]["images_per_second"]
    report.update({
        "settings": {"batch_size": args.batch_size, "steps_per_run": args.steps,
                     "repeats": args.repeats, "warmup_steps": args.warmup,
                     "num_batches": args.num_batches, "sample_num": args.sample_num,
                     "sample_repeats": args.sample_repeats,
                     "parameters": num_params, "config": "experiments/diffusion/pixel_cond.py",
                     "data": "random uint8 [B, 28, 28, 1] and labels, same batches for all"},
        "results": results, "ratios": ratios, "samplers": samplers,
        "ddim50_over_ddpm1000_speed": round(speedup, 2),
        "goal": {"jaxgen/pytorch >=": harness.GOAL_RATIO,
                 "met": max(ratios.values()) >= harness.GOAL_RATIO,
                 "ddim50/ddpm1000 speed >=": 20, "speed_met": speedup >= 20}})
    harness.write_report(args.out_dir, "diffusion_train_step", report, markdown)
    return report


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = ["# Diffusion U-Net train step: jaxgen vs PyTorch eager; sampler speed", "",
             *harness.header_lines(report),
             f"- U-Net of {s['config']}, {s['parameters']} parameters, batch {s['batch_size']}; "
             f"{s['data']}",
             f"- {s['warmup_steps']} warmup steps, then {s['repeats']} interleaved runs of "
             f"{s['steps_per_run']} steps each; median reported", "",
             *harness.results_table(report["results"]), "",
             "Ratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in report["ratios"].items()), "",
             f"Goal (jaxgen >= {harness.GOAL_RATIO}x PyTorch): "
             f"{'met' if report['goal']['met'] else 'not met'}.", "",
             f"Sampling, jaxgen `ddpm` family `sample` ({s['sample_num']} images per call, median "
             f"of {s.get('sample_repeats', 1)} calls, one "
             "jitted lax.scan chain, compile excluded, untrained weights: speed does not depend "
             "on them):", "", "| sampler | images/s | s/image |", "|---|---:|---:|"]
    for name, v in report["samplers"].items():
        lines.append(f"| {name} | {v['images_per_second']:.2f} | {v['seconds_per_image']:.4f} |")
    lines += ["", f"DDIM-50 / DDPM-1000 speed: {report['ddim50_over_ddpm1000_speed']:.1f}x "
              f"(goal >= 20x: {'met' if report['goal']['speed_met'] else 'not met'}).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
