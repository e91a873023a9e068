"""GAN train step (one D update + one G update): jaxgen vs PyTorch eager, side by side.

Two architectures, each timed interleaved in one process:

  mlp     the course's MLP GAN (G 100-256-512-1024-784, D 784-1024-512-256-1,
          LeakyReLU 0.2, dropout 0.3 in D), batch 256, Adam(2e-4, 0.5)
  dcgan   jaxgen's DCGAN (G: Dense -> 7x7x128, BN, two stride-2 4x4 transposed
          convs 64/32 with BN, 3x3 conv, tanh; D: 4x4 stride-2 convs 32/64,
          LeakyReLU, Dense), batch 64, Adam(2e-4, 0.5)

jaxgen runs the engine's jitted, state-donated step (`make_train_call`) of the
`gan` / `dcgan` family; PyTorch runs the textbook eager loop: D step on real and
detached fakes (BCE with logits), then G step on fresh latents with the
non-saturating loss, zero_grad / backward / Adam step for each. Both get the same
random uint8 batches and map them to [-1, 1] inside the timed step. Machinery
(CPU name, cores, load warning) is shared with benchmarks/vae_train_step.py.

    nice -n 19 python benchmarks/gan_train_step.py          # 20 steps x 3 repeats

Results go to benchmarks/results/gan_train_step.{json,md}.
"""
from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vae_train_step import cpu_model, usable_cores  # noqa: E402

GOAL_RATIO = 1.5
LOAD_WARNING = 1.5  # 1-minute load average above which timings are suspect
SETTINGS = {"mlp": {"family": "gan", "batch_size": 256}, "dcgan": {"family": "dcgan", "batch_size": 64}}


# --------------------------------------------------------------------------- jaxgen


class JaxgenGanStep:
    """The engine's jitted, donated GAN train step on pre-placed device batches."""

    def __init__(self, arch: str, host_batches):
        import jax
        from jaxgen import registry
        from jaxgen.engine import sharding
        from jaxgen.engine.config import build_config
        from jaxgen.engine.keys import run_keys
        from jaxgen.engine.loop import make_train_call

        self._jax = jax
        s = SETTINGS[arch]
        config = build_config(s["family"], overrides={"batch_size": str(s["batch_size"])})
        family = registry.get(config.family)
        mesh = sharding.make_mesh()
        keys = run_keys(config.seed)
        state_sharding = sharding.replicated(mesh)
        self.batches = [sharding.put_batch(b, mesh) for b in host_batches]
        init = jax.jit(functools.partial(family.init, config), out_shardings=state_sharding)
        self.state = init(keys.init, host_batches[0])
        self.num_params = sum(int(np.prod(p.shape))
                              for p in jax.tree_util.tree_leaves(self.state.params))
        self.step = make_train_call(family, config, keys.train, state_sharding, mesh)
        self.metrics = None

    def run(self, steps: int) -> float:
        start = time.perf_counter()
        for i in range(steps):
            self.state, self.metrics = self.step(self.state, self.batches[i % len(self.batches)])
        self._jax.block_until_ready((self.state, self.metrics))
        return time.perf_counter() - start

    def last_loss(self) -> float:
        return float(self.metrics["g_loss"])


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
    d = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), leaky(), nn.Conv2d(32, 64, 4, 2, 1), leaky(),
                      nn.Flatten(), nn.Linear(7 * 7 * 64, 1))
    return g, d


class TorchGanStep:
    def __init__(self, arch: str, host_batches, seed: int = 0):
        import torch
        self._torch = torch
        torch.manual_seed(seed)
        self.g, self.d = build_torch_gan(arch)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.batches = [torch.from_numpy(np.ascontiguousarray(b["image"].transpose(0, 3, 1, 2)))
                        for b in host_batches]
        # BN running statistics are buffers, not parameters (as in jaxgen's state.extra).
        self.num_params = sum(p.numel() for m in (self.g, self.d) for p in m.parameters())
        self.loss = None

    def one_step(self, pixels):
        torch, F = self._torch, self._torch.nn.functional
        real = pixels.float() / 127.5 - 1.0
        b = real.shape[0]
        ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)
        self.opt_d.zero_grad(set_to_none=True)
        fake = self.g(torch.randn(b, 100)).view(b, 1, 28, 28).detach()
        d_loss = (F.binary_cross_entropy_with_logits(self.d(real), ones)
                  + F.binary_cross_entropy_with_logits(self.d(fake), zeros))
        d_loss.backward()
        self.opt_d.step()
        self.opt_g.zero_grad(set_to_none=True)
        fake = self.g(torch.randn(b, 100)).view(b, 1, 28, 28)
        g_loss = F.binary_cross_entropy_with_logits(self.d(fake), ones)
        g_loss.backward()
        self.opt_g.step()
        return g_loss

    def run(self, steps: int) -> float:
        start = time.perf_counter()
        for i in range(steps):
            loss = self.one_step(self.batches[i % len(self.batches)])
        self.loss = loss.detach()
        return time.perf_counter() - start

    def last_loss(self) -> float:
        return float(self.loss)


# --------------------------------------------------------------------------- main


def time_arch(arch: str, args) -> dict:
    batch = SETTINGS[arch]["batch_size"]
    rng = np.random.default_rng(0)
    host_batches = [{"image": rng.integers(0, 256, (batch, 28, 28, 1), np.uint8),
                     "label": rng.integers(0, 10, (batch,), np.int32)}
                    for _ in range(args.num_batches)]
    impls = {"jaxgen": JaxgenGanStep(arch, host_batches), "pytorch": TorchGanStep(arch, host_batches)}
    counts = {name: impl.num_params for name, impl in impls.items()}
    if len(set(counts.values())) != 1:
        raise SystemExit(f"{arch}: architectures differ: parameter counts {counts}")
    for name, impl in impls.items():
        t = impl.run(args.warmup)
        print(f"warmup {arch} {name:8s} {args.warmup} steps {t:7.2f} s (incl. compile)", flush=True)
    seconds = {name: [] for name in impls}
    for r in range(args.repeats):
        for name, impl in impls.items():
            t = impl.run(args.steps)
            seconds[name].append(t)
            print(f"repeat {r + 1}/{args.repeats} {arch} {name:8s} {args.steps} steps {t:7.3f} s "
                  f"({args.steps * batch / t:8.1f} ex/s)", flush=True)
    out = {"batch_size": batch, "parameters": counts["jaxgen"], "results": {}}
    for name, impl in impls.items():
        med = statistics.median(seconds[name])
        out["results"][name] = {"seconds_per_run": [round(s, 4) for s in seconds[name]],
                                "examples_per_second": round(args.steps * batch / med, 1),
                                "ms_per_step": round(1000 * med / args.steps, 2),
                                "final_g_loss": round(impl.last_loss(), 3)}
    r = out["results"]
    out["ratio"] = round(r["jaxgen"]["examples_per_second"] / r["pytorch"]["examples_per_second"], 3)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--archs", default="mlp,dcgan")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--num-batches", type=int, default=4)
    p.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "results"))
    args = p.parse_args(argv)
    import jax
    import torch
    cores = usable_cores()
    torch.set_num_threads(cores)
    load_before = os.getloadavg()
    report = {"benchmark": "gan_train_step",
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": "python benchmarks/gan_train_step.py " + " ".join(sys.argv[1:]),
              "machine": {"cpu": cpu_model(), "cores": cores, "platform": platform.platform()},
              "versions": {"jax": jax.__version__, "torch": torch.__version__},
              "settings": {"steps_per_run": args.steps, "repeats": args.repeats,
                           "warmup_steps": args.warmup, "torch_threads": torch.get_num_threads()},
              "archs": {}}
    for arch in args.archs.split(","):
        report["archs"][arch] = time_arch(arch, args)
    report["load_average_1_5_15min"] = {"before": [round(x, 2) for x in load_before],
                                        "after": [round(x, 2) for x in os.getloadavg()]}
    report["goal"] = {arch: {"ratio": a["ratio"], "met": a["ratio"] >= GOAL_RATIO}
                      for arch, a in report["archs"].items()}
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "gan_train_step.json"), "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out_dir, "gan_train_step.md"), "w") as f:
        f.write(markdown(report))
    print(markdown(report))
    if load_before[0] > LOAD_WARNING:
        print(f"warning: load average {load_before[0]:.1f} before the run: other processes "
              "share the cores; the ratio is measured under that load", file=sys.stderr)
    return report


def markdown(report: dict) -> str:
    m, s = report["machine"], report["settings"]
    lines = ["# GAN train step (one D update + one G update): jaxgen vs PyTorch eager", "",
             f"- date: {report['date']}", f"- command: `{report['command']}`",
             f"- machine: {m['cpu']}, {m['cores']} cores, torch threads {s['torch_threads']}; "
             f"jax {report['versions']['jax']}, torch {report['versions']['torch']}",
             f"- load average (1, 5, 15 min) before / after: "
             f"{report['load_average_1_5_15min']['before']} / "
             f"{report['load_average_1_5_15min']['after']} (shared machine: other jobs ran)",
             f"- {s['warmup_steps']} warmup steps, then {s['repeats']} interleaved runs of "
             f"{s['steps_per_run']} steps; median", "",
             "| architecture | batch | parameters | jaxgen ex/s | PyTorch ex/s | jaxgen / PyTorch | goal 1.5x |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for arch, a in report["archs"].items():
        r = a["results"]
        lines.append(f"| {arch} | {a['batch_size']} | {a['parameters']} | "
                     f"{r['jaxgen']['examples_per_second']:.0f} | "
                     f"{r['pytorch']['examples_per_second']:.0f} | {a['ratio']:.2f}x | "
                     f"{'met' if a['ratio'] >= GOAL_RATIO else 'not met'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
