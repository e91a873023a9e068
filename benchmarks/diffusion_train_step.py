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

import argparse
import datetime
import functools
import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vae_train_step import cpu_model, usable_cores  # noqa: E402  (shared machine helpers)

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_FILE = os.path.join(HERE, "..", "experiments", "diffusion", "pixel_cond.py")
GOAL_RATIO = 1.5


# --------------------------------------------------------------------------- jaxgen


def jaxgen_config(conv: str, batch_size: int):
    from jaxgen.engine.config import build_config
    return build_config(config_file=CONFIG_FILE,
                        overrides={"conv": conv, "batch_size": str(batch_size)})


class JaxgenStep:
    def __init__(self, conv: str, batch_size: int, host_batches):
        import jax
        from jaxgen import registry
        from jaxgen.engine import sharding
        from jaxgen.engine.keys import run_keys
        from jaxgen.engine.loop import make_train_call

        self._jax = jax
        self.config = jaxgen_config(conv, batch_size)
        family = registry.get("ddpm")
        mesh = sharding.make_mesh()
        keys = run_keys(self.config.seed)
        state_sharding = sharding.replicated(mesh)
        self.batches = [sharding.put_batch(b, mesh) for b in host_batches]
        self.state = jax.jit(functools.partial(family.init, self.config),
                             out_shardings=state_sharding)(keys.init, host_batches[0])
        self.num_params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(self.state.params))
        self.step = make_train_call(family, self.config, keys.train, state_sharding, mesh)
        self.metrics = None

    def run(self, steps: int) -> float:
        start = time.perf_counter()
        for i in range(steps):
            self.state, self.metrics = self.step(self.state, self.batches[i % len(self.batches)])
        self._jax.block_until_ready((self.state, self.metrics))
        return time.perf_counter() - start


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


class TorchStep:
    def __init__(self, config, host_batches):
        import torch
        self.torch = torch
        torch.manual_seed(0)
        self.model = torch_unet(config.channels, tuple(config.channel_mults), 10)
        self.ema = [p.detach().clone() for p in self.model.parameters()]
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)
        betas = np.linspace(1e-4, 0.02, config.num_timesteps)
        self.alpha_bar = torch.tensor(np.cumprod(1 - betas), dtype=torch.float32)
        self.T, self.dropout = config.num_timesteps, config.label_dropout
        self.batches = [(torch.from_numpy(np.ascontiguousarray(b["image"].transpose(0, 3, 1, 2))),
                         torch.from_numpy(b["label"]).long()) for b in host_batches]
        self.num_params = sum(p.numel() for p in self.model.parameters())

    def run(self, steps: int) -> float:
        torch = self.torch
        start = time.perf_counter()
        for i in range(steps):
            pixels, labels = self.batches[i % len(self.batches)]
            x0 = pixels.float() * (2 / 255) - 1
            t = torch.randint(0, self.T, (len(x0),))
            eps = torch.randn_like(x0)
            ab = self.alpha_bar[t][:, None, None, None]
            labels = torch.where(torch.rand(len(x0)) < self.dropout, 10, labels)
            loss = torch.mean((self.model(ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t, labels)
                               - eps) ** 2)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            with torch.no_grad():
                torch._foreach_lerp_(self.ema, list(self.model.parameters()), 0.005)
        return time.perf_counter() - start


# --------------------------------------------------------------------------- samplers


def sampler_images_per_second(settings, num: int) -> dict:
    """images/s of `family.sample` (jitted as `jaxgen.load` does), compile excluded."""
    import jax
    from jaxgen import registry
    from jaxgen.engine.config import apply_overrides
    family = registry.get("ddpm")
    base = jaxgen_config("flax", num)
    batch = {"image": np.zeros((num, 28, 28, 1), np.uint8), "label": np.zeros(num, np.int32)}
    state = jax.jit(functools.partial(family.init, base))(jax.random.key(0), batch)
    out = {}
    for name, overrides in settings.items():
        config = apply_overrides(base, overrides)
        fn = jax.jit(functools.partial(family.sample, config), static_argnames="num")
        jax.block_until_ready(fn(state, jax.random.key(0), num=num))  # compile
        start = time.perf_counter()
        jax.block_until_ready(fn(state, jax.random.key(1), num=num))
        seconds = time.perf_counter() - start
        out[name] = {"images_per_second": round(num / seconds, 2),
                     "seconds_per_image": round(seconds / num, 4)}
        print(f"sampler {name:10s} {num / seconds:9.2f} images/s", flush=True)
    return out


SAMPLERS = {"ddim-10": {"sampler": "ddim", "sample_steps": "10"},
            "ddim-50": {"sampler": "ddim", "sample_steps": "50"},
            "ddpm-1000": {"sampler": "ddpm", "sample_steps": "1000"}}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--sample-num", type=int, default=20)
    p.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    args = p.parse_args(argv)

    import jax
    import torch
    cores = usable_cores()
    torch.set_num_threads(cores)
    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    host_batches = [{"image": rng.integers(0, 256, (args.batch_size, 28, 28, 1), np.uint8),
                     "label": rng.integers(0, 10, (args.batch_size,), np.int32)}
                    for _ in range(4)]
    impls = {f"jaxgen[{conv}]": JaxgenStep(conv, args.batch_size, host_batches)
             for conv in ("flax", "fast")}
    impls["pytorch"] = TorchStep(impls["jaxgen[flax]"].config, host_batches)
    counts = {name: impl.num_params for name, impl in impls.items()}
    if len(set(counts.values())) != 1:
        raise SystemExit(f"architectures differ: parameter counts {counts}")
    for name, impl in impls.items():
        print(f"warmup {name:14s} {impl.run(args.warmup):7.2f} s (incl. compile)", flush=True)
    seconds = {name: [] for name in impls}
    for r in range(args.repeats):
        for name, impl in impls.items():
            seconds[name].append(impl.run(args.steps))
            print(f"repeat {r + 1} {name:14s} {args.batch_size * args.steps / seconds[name][-1]:8.1f}"
                  " ex/s", flush=True)
    eps = {n: args.steps * args.batch_size / statistics.median(s) for n, s in seconds.items()}
    samplers = sampler_images_per_second(SAMPLERS, args.sample_num)
    speedup = samplers["ddim-50"]["images_per_second"] / samplers["ddpm-1000"]["images_per_second"]
    report = {
        "benchmark": "diffusion_train_step",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "nice -n 19 python benchmarks/diffusion_train_step.py " + " ".join(argv or sys.argv[1:]),
        "machine": {"cpu": cpu_model(), "cores": cores, "platform": platform.platform(),
                    "note": "2-core CPU shared with other jobs; run under nice -n 19"},
        "load_average_before_after": [list(load_before), list(os.getloadavg())],
        "versions": {"jax": jax.__version__, "torch": torch.__version__},
        "settings": vars(args) | {"parameters": counts["pytorch"], "config": "pixel_cond.py"},
        "train_examples_per_second": {n: round(v, 1) for n, v in eps.items()},
        "seconds_per_run": {n: [round(x, 3) for x in s] for n, s in seconds.items()},
        "ratios": {f"{n}/pytorch": round(eps[n] / eps["pytorch"], 3) for n in impls
                   if n != "pytorch"},
        "samplers": samplers,
        "ddim50_over_ddpm1000_speed": round(speedup, 2),
    }
    report["goal_train_ratio_met"] = max(report["ratios"].values()) >= GOAL_RATIO
    print(json.dumps(report["train_examples_per_second"]), json.dumps(report["ratios"]))
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "diffusion_train_step.json"), "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out_dir, "diffusion_train_step.md"), "w") as f:
        f.write(markdown(report))
    return report


def markdown(report: dict) -> str:
    lines = ["# Diffusion U-Net train step: jaxgen vs PyTorch eager; sampler speed", "",
             f"- date: {report['date']}", f"- command: `{report['command']}`",
             f"- machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
             f"{report['machine']['note']}; load average before/after "
             f"{report['load_average_before_after']}",
             f"- versions: jax {report['versions']['jax']}, torch {report['versions']['torch']}",
             f"- U-Net of experiments/diffusion/pixel_cond.py, {report['settings']['parameters']} "
             f"parameters, batch {report['settings']['batch_size']}, "
             f"{report['settings']['repeats']} interleaved runs of {report['settings']['steps']} "
             "steps, median", "", "| implementation | ex/s | vs PyTorch |", "|---|---:|---:|"]
    torch_eps = report["train_examples_per_second"]["pytorch"]
    for name, v in report["train_examples_per_second"].items():
        lines.append(f"| {name} | {v:.1f} | {v / torch_eps:.2f}x |")
    lines += ["", f"Sampling ({report['settings']['sample_num']} images per call, jitted "
              "lax.scan chain, compile excluded):", "", "| sampler | images/s | s/image |",
              "|---|---:|---:|"]
    for name, v in report["samplers"].items():
        lines.append(f"| {name} | {v['images_per_second']:.2f} | {v['seconds_per_image']:.4f} |")
    lines += ["", f"DDIM-50 / DDPM-1000 speed: {report['ddim50_over_ddpm1000_speed']:.1f}x "
              "(goal >= 20x).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
