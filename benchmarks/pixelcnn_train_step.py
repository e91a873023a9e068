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

import argparse
import datetime
import functools
import json
import os
import platform
import shlex
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import GOAL_RATIO, cpu_model, usable_cores  # noqa: E402  shared machinery

ARCH = dict(channels=32, num_layers=6, kernel_size=3, first_kernel_size=7, head_hidden=64,
            num_mixtures=5)


# --------------------------------------------------------------------------- jaxgen


def jaxgen_config(batch_size: int):
    from jaxgen.engine.config import build_config
    overrides = {k: str(v) for k, v in ARCH.items()}
    overrides.update(architecture="gated", head="logistic_mixture", batch_size=str(batch_size),
                     grad_clip_norm="0", learning_rate="0.001")
    return build_config("pixelcnn", overrides=overrides)


class JaxgenStep:
    """The engine's jitted, donated train step on pre-placed batches."""

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


def build_torch_gated_pixelcnn():
    import torch
    from torch import nn
    from torch.nn import functional as F

    c, L, m = ARCH["channels"], ARCH["num_layers"], ARCH["num_mixtures"]
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


class TorchStep:
    """Eager PyTorch train step: zero_grad, forward, loss, backward, Adam step."""

    def __init__(self, host_batches, seed: int = 0):
        import torch
        torch.manual_seed(seed)
        self.model = build_torch_gated_pixelcnn()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.batches = [torch.from_numpy(np.ascontiguousarray(b["image"].transpose(0, 3, 1, 2)))
                        for b in host_batches]
        self.num_params = sum(p.numel() for p in self.model.parameters())
        self.loss = None

    def run(self, steps: int) -> float:
        start = time.perf_counter()
        for i in range(steps):
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.model.loss(self.batches[i % len(self.batches)])
            loss.backward()
            self.optimizer.step()
        self.loss = loss.detach()
        return time.perf_counter() - start

    def last_loss(self) -> float:
        return float(self.loss)


# --------------------------------------------------------------------------- samplers


def time_samplers(config, state, num: int) -> dict:
    """Images/s of both samplers (compiled first), and whether they agree."""
    import jax
    from jaxgen.autoregressive import family as ar
    out = {}
    grids = {}
    for sampler in ("naive", "cached"):
        cfg = config.copy_and_resolve_references()
        cfg.sampler = sampler
        fn = jax.jit(functools.partial(ar.sample, cfg), static_argnames="num")
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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=10, help="train steps per timed run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--sample-num", type=int, default=4, help="images per sampler call")
    p.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "results"))
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/pixelcnn_train_step.py",
                                                             *(sys.argv[1:] if argv is None
                                                               else argv)])
    import jax
    import torch

    cores = usable_cores()
    torch.set_num_threads(cores)
    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    host_batches = [{"image": rng.integers(0, 256, (args.batch_size, 28, 28, 1), np.uint8),
                     "label": rng.integers(0, 10, (args.batch_size,), np.int32)}
                    for _ in range(4)]
    config = jaxgen_config(args.batch_size)
    impls = {"jaxgen": JaxgenStep(config, host_batches), "pytorch": TorchStep(host_batches)}
    counts = {name: impl.num_params for name, impl in impls.items()}
    if len(set(counts.values())) != 1:
        raise SystemExit(f"architectures differ: parameter counts {counts}")
    print(f"# gated PixelCNN train step, batch {args.batch_size}, {counts['pytorch']} parameters; "
          f"{cpu_model()}, {cores} cores", flush=True)
    for name, impl in impls.items():
        print(f"warmup {name}: {impl.run(args.warmup):.2f} s (incl. compile)", flush=True)
    seconds = {name: [] for name in impls}
    for r in range(args.repeats):
        for name, impl in impls.items():
            seconds[name].append(impl.run(args.steps))
            print(f"repeat {r + 1} {name}: {seconds[name][-1]:.3f} s", flush=True)
    results = {}
    for name in impls:
        med = statistics.median(seconds[name])
        results[name] = {"seconds_per_run": [round(s, 3) for s in seconds[name]],
                         "examples_per_second": round(args.steps * args.batch_size / med, 2),
                         "ms_per_step": round(1000 * med / args.steps, 1),
                         "final_loss": round(impls[name].last_loss(), 1)}
    ratio = results["jaxgen"]["examples_per_second"] / results["pytorch"]["examples_per_second"]
    print("timing samplers ...", flush=True)
    samplers = time_samplers(config, impls["jaxgen"].state, args.sample_num)
    report = {
        "benchmark": "pixelcnn_train_step",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "machine": {"cpu": cpu_model(), "cores": cores, "platform": platform.platform()},
        "load_average_1_5_15min": {"before": [round(x, 2) for x in load_before],
                                   "after": [round(x, 2) for x in os.getloadavg()]},
        "versions": {"jax": jax.__version__, "torch": torch.__version__},
        "settings": {"batch_size": args.batch_size, "steps_per_run": args.steps,
                     "repeats": args.repeats, "architecture": ARCH,
                     "parameters": counts["pytorch"], "optimizer": "Adam lr 1e-3",
                     "data": "random uint8 [B, 28, 28, 1]"},
        "train_step": results,
        "jaxgen/pytorch": round(ratio, 3),
        "goal": {"jaxgen/pytorch >=": GOAL_RATIO, "met": ratio >= GOAL_RATIO},
        "samplers": samplers,
    }
    print(json.dumps({k: report[k] for k in ("train_step", "jaxgen/pytorch", "samplers")},
                     indent=1))
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "pixelcnn_train_step.json"), "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out_dir, "pixelcnn_train_step.md"), "w") as f:
        f.write(markdown(report))
    return report


def markdown(report: dict) -> str:
    s, t, smp = report["settings"], report["train_step"], report["samplers"]
    lines = [
        "# Gated PixelCNN: train step vs PyTorch eager; naive vs cached sampler", "",
        f"- date: {report['date']}; command: `{report['command']}`",
        f"- machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        "**shared with other jobs** (load average before / after: "
        f"{report['load_average_1_5_15min']['before']} / "
        f"{report['load_average_1_5_15min']['after']})",
        f"- versions: jax {report['versions']['jax']}, torch {report['versions']['torch']}",
        f"- network {s['architecture']}, {s['parameters']} parameters, batch {s['batch_size']}, "
        f"{s['optimizer']}, {s['data']}; {s['repeats']} interleaved runs of "
        f"{s['steps_per_run']} steps, median", "",
        "| implementation | ex/s | ms/step | seconds per run |", "|---|---:|---:|---|"]
    for name, r in t.items():
        lines.append(f"| {name} | {r['examples_per_second']} | {r['ms_per_step']} | "
                     f"{r['seconds_per_run']} |")
    lines += ["", f"jaxgen / PyTorch: **{report['jaxgen/pytorch']:.2f}x** (goal >= "
              f"{report['goal']['jaxgen/pytorch >=']}: "
              f"{'met' if report['goal']['met'] else 'not met'}).", "",
              f"Samplers ({smp['num_images']} images per call, jitted, compiled beforehand):", "",
              "| sampler | seconds | images/s |", "|---|---:|---:|"]
    for name in ("naive", "cached"):
        lines.append(f"| {name} | {smp[name]['seconds']} | {smp[name]['images_per_second']} |")
    lines += ["", f"cached / naive: **{smp['cached/naive']}x**; identical samples for the same "
              f"key: {smp['identical_samples']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
