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

Results go to <out-dir>/flows_train_step.{json,md}. Machine facts (CPU model,
cores) come from benchmarks/vae_train_step.py.
"""
from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import GOAL_RATIO, LOAD_WARNING, cpu_model, usable_cores  # noqa: E402

CONFIG_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                           "experiments", "flows", "realnvp_fmnist.py")


# --------------------------------------------------------------------------- jaxgen


class JaxgenStep:
    """The engine's jitted, donated train step (`make_train_call`) on device batches."""

    def __init__(self, config, host_batches):
        import jax
        from jaxgen import registry
        from jaxgen.engine import sharding
        from jaxgen.engine.keys import run_keys
        from jaxgen.engine.loop import make_train_call

        self._jax = jax
        family = registry.get(config.family)
        mesh = sharding.make_mesh()
        keys = run_keys(config.seed)
        state_sharding = sharding.replicated(mesh)
        self.batches = [sharding.put_batch(b, mesh) for b in host_batches]
        self.state = jax.jit(functools.partial(family.init, config),
                             out_shardings=state_sharding)(keys.init, host_batches[0])
        self.num_params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(self.state.params))
        self.step = make_train_call(family, config, keys.train, state_sharding, mesh)
        self.metrics = None

    def run(self, steps: int) -> float:
        start = time.perf_counter()
        for i in range(steps):
            self.state, self.metrics = self.step(self.state, self.batches[i % len(self.batches)])
        self._jax.block_until_ready((self.state, self.metrics))
        return time.perf_counter() - start

    def last_loss(self) -> float:
        return float(self.metrics["loss"])


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


class TorchStep:
    """Eager PyTorch train step: zero_grad, forward, loss, backward, clip, Adam step."""

    def __init__(self, config, host_batches, seed: int = 0):
        import torch
        self._torch = torch
        torch.manual_seed(seed)
        self.model = build_torch_realnvp(config)
        self.clip = config.grad_clip
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)
        self.batches = [torch.from_numpy(np.ascontiguousarray(b["image"].transpose(0, 3, 1, 2)))
                        for b in host_batches]
        self.num_params = sum(p.numel() for p in self.model.parameters())
        self.loss = None

    def run(self, steps: int) -> float:
        torch = self._torch
        start = time.perf_counter()
        for i in range(steps):
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.model.loss(self.batches[i % len(self.batches)])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
            self.optimizer.step()
        self.loss = loss.detach()
        return time.perf_counter() - start

    def last_loss(self) -> float:
        return float(self.loss)


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=20, help="train steps per timed run")
    p.add_argument("--repeats", type=int, default=3, help="interleaved timed runs (median)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compile, caches)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--num-batches", type=int, default=4, help="distinct random batches cycled")
    p.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "results"))
    return p.parse_args(argv)


def time_interleaved(impls: dict, steps: int, repeats: int, batch_size: int) -> dict:
    seconds = {name: [] for name in impls}
    for r in range(repeats):
        for name, impl in impls.items():
            t = impl.run(steps)
            seconds[name].append(t)
            print(f"repeat {r + 1}/{repeats} {name:8s} {steps} steps {t:7.3f} s "
                  f"({steps * batch_size / t:8.1f} ex/s)", flush=True)
    results = {}
    for name, runs in seconds.items():
        med = statistics.median(runs)
        results[name] = {"seconds_per_run": [round(s, 4) for s in runs],
                         "median_seconds": round(med, 4),
                         "examples_per_second": round(steps * batch_size / med, 1),
                         "ms_per_step": round(1000 * med / steps, 2),
                         "final_loss": round(impls[name].last_loss(), 2)}
    return results


def main(argv=None) -> dict:
    args = parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [
        "benchmarks/flows_train_step.py", *(sys.argv[1:] if argv is None else argv)])

    import flax
    import jax
    import torch
    from jaxgen.engine.config import build_config

    cores = usable_cores()
    load_before = os.getloadavg()
    torch.set_num_threads(cores)  # PyTorch gets every core, as XLA's CPU backend does
    config = build_config(config_file=CONFIG_FILE,
                          overrides={"batch_size": str(args.batch_size)})

    rng = np.random.default_rng(0)
    host_batches = [{"image": rng.integers(0, 256, (args.batch_size, 28, 28, 1), np.uint8),
                     "label": rng.integers(0, 10, (args.batch_size,), np.int32)}
                    for _ in range(args.num_batches)]
    impls = {"jaxgen": JaxgenStep(config, host_batches), "pytorch": TorchStep(config, host_batches)}
    counts = {name: impl.num_params for name, impl in impls.items()}
    if len(set(counts.values())) != 1:
        raise SystemExit(f"architectures differ: parameter counts {counts}")
    print(f"# RealNVP train step, batch {args.batch_size}, {counts['jaxgen']} parameters; "
          f"{cpu_model()}, {cores} cores; torch threads {torch.get_num_threads()}", flush=True)
    for name, impl in impls.items():
        t = impl.run(args.warmup)
        print(f"warmup {name:8s} {args.warmup} steps {t:7.2f} s (incl. compile)", flush=True)
    results = time_interleaved(impls, args.steps, args.repeats, args.batch_size)
    ratio = results["jaxgen"]["examples_per_second"] / results["pytorch"]["examples_per_second"]

    report = {
        "benchmark": "flows_train_step",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "machine": {"cpu": cpu_model(), "cores": cores, "platform": platform.platform()},
        "load_average_1_5_15min": {"before": [round(x, 2) for x in load_before],
                                   "after": [round(x, 2) for x in os.getloadavg()]},
        "versions": {"jax": jax.__version__, "flax": flax.__version__,
                     "torch": torch.__version__, "python": platform.python_version()},
        "settings": {"config": "experiments/flows/realnvp_fmnist.py",
                     "batch_size": args.batch_size, "steps_per_run": args.steps,
                     "repeats": args.repeats, "warmup_steps": args.warmup,
                     "parameters": counts["jaxgen"],
                     "data": "random uint8 [B, 28, 28, 1], same batches for both"},
        "results": results,
        "ratio_jaxgen_over_pytorch": round(ratio, 3),
        "goal": {"jaxgen/pytorch >=": GOAL_RATIO, "met": ratio >= GOAL_RATIO},
    }
    print(f"\njaxgen {results['jaxgen']['examples_per_second']:.1f} ex/s, pytorch "
          f"{results['pytorch']['examples_per_second']:.1f} ex/s: ratio {ratio:.2f}x "
          f"(goal {GOAL_RATIO}x {'met' if ratio >= GOAL_RATIO else 'NOT met'})")
    if load_before[0] > LOAD_WARNING:
        print(f"warning: load average {load_before[0]:.1f} before the run: other processes "
              "share the cores", file=sys.stderr)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "flows_train_step.json"), "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out_dir, "flows_train_step.md"), "w") as f:
        f.write(markdown(report))
    return report


def markdown(report: dict) -> str:
    s, load = report["settings"], report["load_average_1_5_15min"]
    lines = [
        "# RealNVP train step: jaxgen vs PyTorch eager", "",
        f"- date: {report['date']}", f"- command: `{report['command']}`",
        f"- machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; "
        f"load average before / after {load['before']} / {load['after']}"
        + (" (shared with other jobs: absolute numbers are low, the ratio is what to read)"
           if load["before"][0] > LOAD_WARNING else ""),
        f"- versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        f"- architecture {s['config']}, batch {s['batch_size']}, {s['parameters']} parameters; "
        f"{s['warmup_steps']} warm-up steps, then {s['repeats']} interleaved runs of "
        f"{s['steps_per_run']} steps, median; {s['data']}", "",
        "| implementation | ex/s | ms/step | seconds per run |", "|---|---:|---:|---|"]
    for name, r in report["results"].items():
        runs = ", ".join(f"{t:.3f}" for t in r["seconds_per_run"])
        lines.append(f"| {name} | {r['examples_per_second']:.1f} | {r['ms_per_step']:.2f} "
                     f"| {runs} |")
    lines += ["", f"jaxgen / PyTorch = {report['ratio_jaxgen_over_pytorch']:.2f}x "
              f"(goal {GOAL_RATIO}x: {'met' if report['goal']['met'] else 'not met'}).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
