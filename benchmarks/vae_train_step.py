"""VAE train step: jaxgen (jitted, donated engine step) vs PyTorch eager, side by side.

One process times, interleaved, four train steps of the same VAE on the same
batches:

  jaxgen[fast]       the engine's own jitted, state-donated step
                     (`jaxgen.engine.loop.make_train_call`) with the default
                     decoder: GEMM-form transposed convs and output conv with
                     hand-written gradients (`jaxgen.nn.fast_conv`);
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

IMAGE_SIZE = 28
PAD = 2
LOAD_WARNING = 1.5  # 1-minute load average above which timings are suspect
GOAL_RATIO = 1.5  # the target: jaxgen at least 1.5x PyTorch eager


# --------------------------------------------------------------------------- machine


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# --------------------------------------------------------------------------- jaxgen


def jaxgen_config(upsample: str, batch_size: int, latent_dim: int):
    """The engine's VAE config with the benchmark's settings."""
    try:
        from jaxgen.engine.config import build_config
        config = build_config("vae")
    except ImportError:
        # Dataset registry not importable (e.g. a module being edited): the
        # family's defaults are the same config without the dataset check.
        from jaxgen.vae.family import default_config
        config = default_config("vae")
    config.batch_size = batch_size
    config.latent_dim = latent_dim
    config.upsample = upsample
    config.steps_per_call = 1
    return config


class JaxgenStep:
    """The engine's jitted, donated train step on pre-placed device batches.

    The mesh is the engine's (`sharding.make_mesh()`). If the step cannot be
    traced on it (jax >= 0.7 makes `jax.make_mesh` axes Explicit, and a reshape
    the model does may then need an explicit out_sharding), the same step is
    built on a mesh with an Auto axis instead and `mesh_note` says so: with one
    CPU device both compile to the same single-device computation.
    """

    def __init__(self, upsample: str, batch_size: int, latent_dim: int, host_batches):
        import jax
        from jaxgen.engine import sharding

        self._jax = jax
        self.config = jaxgen_config(upsample, batch_size, latent_dim)
        self.mesh_note = "engine mesh (jaxgen.engine.sharding.make_mesh)"
        mesh = sharding.make_mesh()
        try:
            self._build(mesh, host_batches)
            self.step.lower(self.state, self.batches[0])  # trace only: nothing donated
        except Exception as e:  # noqa: BLE001 - reported, then retried on an Auto mesh
            auto = jax.make_mesh((jax.device_count(),), ("data",),
                                 axis_types=(jax.sharding.AxisType.Auto,))
            self.mesh_note = (f"Auto-axis mesh: the engine's mesh {mesh.axis_types} failed to "
                              f"trace the step ({type(e).__name__}: {str(e).splitlines()[0]})")
            print(f"warning [{upsample}]: {self.mesh_note}", file=sys.stderr, flush=True)
            self._build(auto, host_batches)
        self.metrics = None

    def _build(self, mesh, host_batches):
        jax = self._jax
        from jaxgen import registry
        from jaxgen.engine import sharding
        from jaxgen.engine.keys import run_keys
        from jaxgen.engine.loop import make_train_call

        family = registry.get("vae")
        sharding.check_batch_size(self.config.batch_size, mesh)
        keys = run_keys(self.config.seed)
        state_sharding = sharding.replicated(mesh)
        self.batches = [sharding.put_batch(b, mesh) for b in host_batches]
        init = jax.jit(functools.partial(family.init, self.config), out_shardings=state_sharding)
        self.state = init(keys.init, host_batches[0])
        self.num_params = sum(int(np.prod(p.shape))
                              for p in jax.tree_util.tree_leaves(self.state.params))
        self.step = make_train_call(family, self.config, keys.train, state_sharding, mesh)

    def run(self, steps: int) -> float:
        """Seconds for `steps` train steps, waiting for the last result."""
        start = time.perf_counter()
        for i in range(steps):
            self.state, self.metrics = self.step(self.state, self.batches[i % len(self.batches)])
        self._jax.block_until_ready((self.state, self.metrics))
        return time.perf_counter() - start

    def last_loss(self) -> float:
        return float(self.metrics["loss"])


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


class TorchStep:
    """Eager PyTorch train step: zero_grad, forward, loss, backward, Adam step."""

    def __init__(self, latent_dim: int, host_batches, seed: int = 0):
        import torch
        self._torch = torch
        torch.manual_seed(seed)
        self.model = build_torch_vae(latent_dim)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)  # eps 1e-8 as optax
        # NHWC uint8 -> NCHW uint8, done once outside the timed loop (jaxgen's
        # batches are likewise placed on device before timing).
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


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=30, help="train steps per timed run")
    p.add_argument("--repeats", type=int, default=3, help="interleaved timed runs (median)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compile, caches)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--latent-dim", type=int, default=2)
    p.add_argument("--num-batches", type=int, default=4, help="distinct random batches cycled")
    p.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "results"))
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [
        os.path.relpath(sys.argv[0]) if argv is None else "benchmarks/vae_train_step.py",
        *(sys.argv[1:] if argv is None else argv)])

    import torch
    import jax
    import jaxlib
    import flax

    cores = usable_cores()
    load_before = os.getloadavg()
    torch.set_num_threads(cores)  # fairness: PyTorch gets every core, as XLA's CPU backend does

    rng = np.random.default_rng(0)
    host_batches = [
        {"image": rng.integers(0, 256, (args.batch_size, IMAGE_SIZE, IMAGE_SIZE, 1), np.uint8),
         "label": rng.integers(0, 10, (args.batch_size,), np.int32)}
        for _ in range(args.num_batches)]

    impls = {f"jaxgen[{upsample}]": JaxgenStep(upsample, args.batch_size, args.latent_dim,
                                                host_batches)
             for upsample in ("fast", "subpixel", "transpose")}
    impls["pytorch"] = TorchStep(args.latent_dim, host_batches)
    param_counts = {name: impl.num_params for name, impl in impls.items()}
    if len(set(param_counts.values())) != 1:
        raise SystemExit(f"architectures differ: parameter counts {param_counts}")

    print(f"# VAE train step, batch {args.batch_size}, latent {args.latent_dim}, "
          f"{param_counts['pytorch']} parameters; {cpu_model()}, {cores} cores; "
          f"torch threads {torch.get_num_threads()}", flush=True)

    for name, impl in impls.items():  # compile / warm caches, untimed
        t = impl.run(args.warmup)
        print(f"warmup {name:18s} {args.warmup} steps {t:7.2f} s (incl. compile)", flush=True)

    seconds = {name: [] for name in impls}
    for r in range(args.repeats):
        for name, impl in impls.items():
            t = impl.run(args.steps)
            seconds[name].append(t)
            print(f"repeat {r + 1}/{args.repeats} {name:18s} {args.steps} steps {t:7.3f} s "
                  f"({args.steps * args.batch_size / t:8.1f} ex/s)", flush=True)

    results = {}
    for name in impls:
        med = statistics.median(seconds[name])
        results[name] = {
            "seconds_per_run": [round(s, 4) for s in seconds[name]],
            "median_seconds": round(med, 4),
            "examples_per_second": round(args.steps * args.batch_size / med, 1),
            "ms_per_step": round(1000 * med / args.steps, 2),
            "final_loss": round(impls[name].last_loss(), 3),
        }
    eps = {name: results[name]["examples_per_second"] for name in impls}
    ratios = {f"{name}/pytorch": round(eps[name] / eps["pytorch"], 3)
              for name in impls if name != "pytorch"}
    ratios["jaxgen[fast]/jaxgen[transpose]"] = round(
        eps["jaxgen[fast]"] / eps["jaxgen[transpose]"], 3)

    report = {
        "benchmark": "vae_train_step",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "machine": {"cpu": cpu_model(), "cores": cores, "platform": platform.platform(),
                    "jax_devices": [str(d) for d in jax.devices()]},
        "jaxgen_mesh": {name: impl.mesh_note for name, impl in impls.items()
                        if hasattr(impl, "mesh_note")},
        "load_average_1_5_15min": {"before": [round(x, 2) for x in load_before],
                                   "after": [round(x, 2) for x in os.getloadavg()]},
        "threads": {"torch.set_num_threads": torch.get_num_threads(),
                    "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
                    "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "")},
        "versions": {"python": platform.python_version(), "jax": jax.__version__,
                     "jaxlib": jaxlib.__version__, "flax": flax.__version__,
                     "torch": torch.__version__, "numpy": np.__version__},
        "settings": {"batch_size": args.batch_size, "latent_dim": args.latent_dim,
                     "steps_per_run": args.steps, "repeats": args.repeats,
                     "warmup_steps": args.warmup, "num_batches": args.num_batches,
                     "data": "random uint8 [B, 28, 28, 1], same batches for all",
                     "optimizer": "Adam lr 1e-3", "parameters": param_counts["pytorch"]},
        "results": results,
        "ratios": ratios,
        "goal": {"jaxgen/pytorch >=": GOAL_RATIO,
                 "met": ratios["jaxgen[fast]/pytorch"] >= GOAL_RATIO},
    }

    print()
    print(f"{'implementation':20s} {'ex/s':>9s} {'ms/step':>9s} {'vs pytorch':>11s}")
    for name in impls:
        r = results[name]
        print(f"{name:20s} {r['examples_per_second']:9.1f} {r['ms_per_step']:9.2f} "
              f"{eps[name] / eps['pytorch']:10.2f}x")
    print(f"goal jaxgen[fast]/pytorch >= {GOAL_RATIO}: "
          f"{'met' if report['goal']['met'] else 'NOT met'} "
          f"({ratios['jaxgen[fast]/pytorch']:.2f}x)")
    if load_before[0] > LOAD_WARNING:
        print(f"warning: load average {load_before[0]:.1f} before the run: other processes "
              "share the cores, so the ratios are not to be trusted", file=sys.stderr)

    os.makedirs(args.out_dir, exist_ok=True)
    json_path = os.path.join(args.out_dir, "vae_train_step.json")
    md_path = os.path.join(args.out_dir, "vae_train_step.md")
    with open(json_path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(md_path, "w") as f:
        f.write(markdown(report))
    print(f"wrote {json_path} and {md_path}")
    return report


def markdown(report: dict) -> str:
    s, v, m = report["settings"], report["versions"], report["machine"]
    lines = [
        "# VAE train step: jaxgen vs PyTorch eager",
        "",
        f"- date: {report['date']}",
        f"- command: `{report['command']}`",
        f"- machine: {m['cpu']}, {m['cores']} cores (`torch.set_num_threads"
        f"({report['threads']['torch.set_num_threads']})`; XLA uses all cores by default)",
        f"- versions: jax {v['jax']}, jaxlib {v['jaxlib']}, flax {v['flax']}, "
        f"torch {v['torch']}, python {v['python']}",
        f"- batch {s['batch_size']}, latent dim {s['latent_dim']}, {s['parameters']} parameters, "
        f"{s['optimizer']}; {s['data']}",
        f"- load average (1, 5, 15 min) before / after: "
        f"{report['load_average_1_5_15min']['before']} / {report['load_average_1_5_15min']['after']}",
        f"- {s['warmup_steps']} warmup steps, then {s['repeats']} interleaved runs of "
        f"{s['steps_per_run']} steps each; median reported",
        "",
        "| implementation | ex/s | ms/step | seconds per run | vs PyTorch |",
        "|---|---:|---:|---|---:|",
    ]
    torch_eps = report["results"]["pytorch"]["examples_per_second"]
    for name, r in report["results"].items():
        runs = ", ".join(f"{t:.3f}" for t in r["seconds_per_run"])
        lines.append(f"| {name} | {r['examples_per_second']:.1f} | {r['ms_per_step']:.2f} | "
                     f"{runs} | {r['examples_per_second'] / torch_eps:.2f}x |")
    lines += [
        "",
        "Ratios: " + ", ".join(f"{k} = {val:.2f}" for k, val in report["ratios"].items()),
        "",
        f"Goal (jaxgen[fast] >= {GOAL_RATIO}x PyTorch): "
        f"{'met' if report['goal']['met'] else 'not met'}.",
        "",
        "jaxgen: the engine's jitted train step with the state donated "
        "(`jaxgen.engine.loop.make_train_call`); `fast` (the default) computes the decoder's "
        "stride-2 transposed convolutions and output conv as GEMMs with hand-written "
        "gradients (`jaxgen.nn.fast_conv`), `subpixel` as convolution + depth-to-space, "
        "`transpose` uses flax `nn.ConvTranspose` (all the same function and parameters). "
        "PyTorch: eager step "
        "(zero_grad, forward, loss, backward, Adam step), NCHW, same layer sizes.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
