"""What every side-by-side benchmark shares: the timed implementations, the
interleaved timing, the machine description and the report files.

A benchmark script builds a dict `{name: implementation}` where each
implementation has `run(steps) -> seconds`, `last_loss() -> float` and
`num_params`, then calls `time_interleaved` and `write_report`. The two
implementation classes here cover the usual case:

- `EngineStep`: jaxgen's own jitted, state-donated train step
  (`jaxgen.engine.loop.make_train_call`) for any registered family, on batches
  placed on the engine's mesh before timing: what is timed is what trains.
- `TorchStep`: an eager PyTorch step (zero_grad, loss, backward, optimizer step).

Timing is interleaved (each repetition runs every implementation in turn) so
that all of them see the same machine conditions, and the median run is
reported. Run from the repository root: `python benchmarks/NAME.py`.
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

# 1-minute load average per core above which timings are suspect (1.5 on 2 cores).
LOAD_WARNING_PER_CORE = 0.75
GOAL_RATIO = 1.5  # the issues' target: jaxgen at least 1.5x PyTorch eager
RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


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


TORCH_DEVICES = ("cpu", "cuda")


def setup_torch(device: str = "cpu"):
    """Import torch, give it every usable core (as XLA's CPU backend has) and make
    `device` the default for new tensors and parameters.

    On "cuda", PyTorch gets its fastest settings: cuDNN autotuning and TF32 for
    float32 matrix products and convolutions, which is what XLA does on the GPU
    by default (its DEFAULT precision)."""
    import torch
    if device not in TORCH_DEVICES:
        raise SystemExit(f"--torch-device must be one of {TORCH_DEVICES}, got {device!r}")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--torch-device cuda: PyTorch sees no CUDA device")
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.set_num_threads(usable_cores())
    torch.set_default_device(device)
    return torch


def gpu_name() -> str | None:
    """The CUDA device PyTorch uses, if any."""
    import torch
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def environment() -> dict:
    """Machine, library versions, threads and the load average now."""
    import flax
    import jax
    import jaxlib
    import torch
    return {
        "date": utc_now(),
        "machine": {"cpu": cpu_model(), "cores": usable_cores(), "platform": platform.platform(),
                    "jax_devices": [str(d) for d in jax.devices()],
                    "torch_device": str(torch.get_default_device()), "gpu": gpu_name()},
        "versions": {"python": platform.python_version(), "jax": jax.__version__,
                     "jaxlib": jaxlib.__version__, "flax": flax.__version__,
                     "torch": torch.__version__, "numpy": np.__version__},
        "threads": {"torch.set_num_threads": torch.get_num_threads(),
                    "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")},
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }


# Environment variables that change what is computed, shown in front of the command.
COMMAND_ENV = ("JAX_DEFAULT_MATMUL_PRECISION",)


def command_line(script: str, argv=None, prefix: str = "") -> str:
    """The command that reproduces this run; `prefix` goes before `python` (e.g. nice)."""
    args = sys.argv[1:] if argv is None else argv
    env = "".join(f"{k}={shlex.quote(os.environ[k])} " for k in COMMAND_ENV if k in os.environ)
    return env + prefix + "python " + " ".join(shlex.quote(a) for a in [f"benchmarks/{script}", *args])


def arg_parser(description: str, steps: int = 30, repeats: int = 3,
               torch_device: bool = False) -> argparse.ArgumentParser:
    """The common flags; `torch_device` adds --torch-device (train-step benchmarks,
    whose TorchStep waits for the GPU before stopping the clock)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--steps", type=int, default=steps, help="train steps per timed run")
    p.add_argument("--repeats", type=int, default=repeats, help="interleaved timed runs (median)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compile, caches)")
    p.add_argument("--num-batches", type=int, default=4, help="distinct random batches cycled")
    p.add_argument("--out-dir", default=RESULTS_DIR)
    if torch_device:
        p.add_argument("--torch-device", default="cpu", choices=TORCH_DEVICES,
                       help="where the PyTorch reference runs (jaxgen uses JAX's default "
                            "backend, a GPU where jax has one)")
        p.add_argument("--torch-compile", action="store_true",
                       help=f"also time the PyTorch step under torch.compile ({COMPILED!r}): "
                            "the fair peer of a compiled JAX step")
        p.add_argument("--torch-compile-backend", default="inductor",
                       help="torch.compile's backend (aot_eager: Dynamo and AOTAutograd without "
                            "code generation, a quick check of the script)")
    return p


# --------------------------------------------------------------------------- data


def random_image_batches(batch_size: int, num: int, seed: int = 0) -> list[dict]:
    """Random uint8 Fashion-MNIST-shaped batches (speed does not depend on the values)."""
    rng = np.random.default_rng(seed)
    return [{"image": rng.integers(0, 256, (batch_size, 28, 28, 1), np.uint8),
             "label": rng.integers(0, 10, (batch_size,), np.int32)} for _ in range(num)]


def count_params(tree) -> int:
    import jax
    return sum(int(np.prod(np.shape(p))) for p in jax.tree_util.tree_leaves(tree))


def check_same_size(impls: dict) -> int:
    """The implementations must have the same parameter count (same architecture)."""
    counts = {name: impl.num_params for name, impl in impls.items()}
    if len(set(counts.values())) != 1:
        raise SystemExit(f"architectures differ: parameter counts {counts}")
    return next(iter(counts.values()))


# --------------------------------------------------------------------------- implementations


class EngineStep:
    """The engine's jitted, donated train step of `config.family`."""

    def __init__(self, config, host_batches, loss_key: str = "loss"):
        import jax
        from jaxgen import registry
        from jaxgen.engine import sharding
        from jaxgen.engine.keys import run_keys
        from jaxgen.engine.loop import make_train_call

        self._jax = jax
        self.config = config
        self.loss_key = loss_key
        family = registry.get(config.family)
        mesh = sharding.make_mesh()
        sharding.check_batch_size(config.batch_size, mesh)
        keys = run_keys(config.seed)
        state_sharding = sharding.replicated(mesh)
        self.batches = [sharding.put_batch(b, mesh) for b in host_batches]
        init = jax.jit(functools.partial(family.init, config), out_shardings=state_sharding)
        self.state = init(keys.init, host_batches[0])
        self.num_params = count_params(self.state.params)
        self.step = make_train_call(family, config, keys.train, state_sharding, mesh)
        self.metrics = None

    def run(self, steps: int) -> float:
        """Seconds for `steps` train steps, waiting for the last result."""
        start = time.perf_counter()
        for i in range(steps):
            self.state, self.metrics = self.step(self.state, self.batches[i % len(self.batches)])
        self._jax.block_until_ready((self.state, self.metrics))
        return time.perf_counter() - start

    def last_loss(self) -> float:
        return float(self.metrics[self.loss_key])


class TorchStep:
    """Eager PyTorch step: zero_grad, `loss_fn(model, batch)`, backward, optional
    gradient clipping, optimizer step.

    `batches` are already torch tensors (converted once, outside the timed
    loop, as jaxgen's are placed on device before timing)."""

    def __init__(self, model, loss_fn, optimizer, batches, clip_norm: float | None = None):
        import torch
        self._torch = torch
        self.device = torch.get_default_device()  # set by setup_torch
        # Parameters are created there already; buffers made from numpy are not.
        # `Module.to` moves in place, so the optimizer's references stay valid.
        self.model = model.to(self.device)
        self.loss_fn, self.optimizer = loss_fn, optimizer
        self.batches = [to_device(b, self.device) for b in batches]
        self.clip_norm = clip_norm  # global-norm gradient clipping before the step, if set
        self.num_params = sum(p.numel() for p in model.parameters())
        self.loss = None

    def run(self, steps: int) -> float:
        start = time.perf_counter()
        for i in range(steps):
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model, self.batches[i % len(self.batches)])
            loss.backward()
            if self.clip_norm is not None:
                self._torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_norm)
            self.optimizer.step()
        self.loss = loss.detach()
        if self.device.type == "cuda":  # CUDA kernels run asynchronously: wait for them
            self._torch.cuda.synchronize()
        return time.perf_counter() - start

    def last_loss(self) -> float:
        return float(self.loss)


COMPILED = "pytorch[compile]"  # the torch.compile peer's name in every report


def compile_torch_step(step: TorchStep, backend: str = "inductor") -> TorchStep:
    """The same step with its loss (forward, and through AOTAutograd the
    backward) compiled by `torch.compile`; the optimizer update stays eager.
    Compiling the loss function rather than the module also covers losses
    that call a module method (`m.loss(x)`), which a compiled module's
    attribute access would leave eager."""
    step.loss_fn = step._torch.compile(step.loss_fn, backend=backend)
    return step


def add_compiled_peer(impls: dict, args, make_torch_step) -> None:
    """With --torch-compile, `impls[COMPILED]`: a fresh PyTorch step (same
    seed, so the same weights) under torch.compile, timed beside eager."""
    if getattr(args, "torch_compile", False):
        impls[COMPILED] = compile_torch_step(make_torch_step(),
                                             getattr(args, "torch_compile_backend", "inductor"))


def to_device(batch, device):
    """A torch tensor, or a tuple/list of them, moved to `device`."""
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    return batch.to(device)


def torch_nchw(host_batches) -> list:
    """NHWC uint8 numpy batches -> NCHW uint8 torch tensors."""
    import torch
    return [torch.from_numpy(np.ascontiguousarray(b["image"].transpose(0, 3, 1, 2)))
            for b in host_batches]


# --------------------------------------------------------------------------- timing


def time_interleaved(impls: dict, batch_size: int, steps: int, repeats: int, warmup: int,
                     label: str = "") -> dict:
    """{name: {seconds_per_run, examples_per_second, ms_per_step, final_loss}} (median run)."""
    for name, impl in impls.items():  # compile / warm caches, untimed
        t = impl.run(warmup)
        print(f"warmup {label}{name:20s} {warmup} steps {t:7.2f} s (incl. compile)", flush=True)
    seconds = {name: [] for name in impls}
    for r in range(repeats):
        for name, impl in impls.items():
            t = impl.run(steps)
            seconds[name].append(t)
            print(f"repeat {r + 1}/{repeats} {label}{name:20s} {steps} steps {t:7.3f} s "
                  f"({steps * batch_size / t:8.1f} ex/s)", flush=True)
    results = {}
    for name, impl in impls.items():
        med = statistics.median(seconds[name])
        results[name] = {"seconds_per_run": [round(s, 4) for s in seconds[name]],
                         "examples_per_second": round(steps * batch_size / med, 1),
                         "ms_per_step": round(1000 * med / steps, 2),
                         "final_loss": round(impl.last_loss(), 3)}
    return results


def ratios_to(results: dict, reference: str = "pytorch") -> dict:
    """Each implementation's speed over the reference's; with a torch.compile
    peer in `results`, also each jaxgen variant's over the compiled peer's."""
    ref = results[reference]["examples_per_second"]
    ratios = {f"{name}/{reference}": round(r["examples_per_second"] / ref, 3)
              for name, r in results.items() if name != reference}
    if reference == "pytorch" and COMPILED in results:
        ratios.update(ratios_to({k: v for k, v in results.items() if k != "pytorch"},
                                COMPILED))
    return ratios


# --------------------------------------------------------------------------- reports


def was_busy(report: dict) -> bool:
    """Whether the load average before the run says other work shared the cores."""
    return report["load_average_before"][0] > LOAD_WARNING_PER_CORE * report["machine"]["cores"]


def header_lines(report: dict) -> list[str]:
    """The markdown lines every report starts with after its title."""
    m, v = report["machine"], report["versions"]
    load = report["load_average_before"], report.get("load_average_after")
    return [f"- date: {report['date']}",
            f"- command: `{report['command']}`",
            f"- machine: {m['cpu']}, {m['cores']} cores (`torch.set_num_threads"
            f"({report['threads']['torch.set_num_threads']})`; XLA uses all cores by default)",
            *([f"- GPU: {m['gpu']}; PyTorch on `{m['torch_device']}` (cuDNN autotuning, TF32 "
               f"allowed), JAX on {', '.join(m['jax_devices'])}"]
              if m.get("torch_device", "cpu") != "cpu" else []),
            f"- versions: jax {v['jax']}, jaxlib {v['jaxlib']}, flax {v['flax']}, "
            f"torch {v['torch']}, python {v['python']}",
            f"- load average (1, 5, 15 min) before / after: {load[0]} / {load[1]}"
            + (" (the machine was busy: other jobs shared the cores)"
               if was_busy(report) else "")]


def results_table(results: dict, reference: str = "pytorch") -> list[str]:
    ref = results[reference]["examples_per_second"]
    lines = [f"| implementation | ex/s | ms/step | seconds per run | vs {reference} |",
             "|---|---:|---:|---|---:|"]
    for name, r in results.items():
        runs = ", ".join(f"{t:.3f}" for t in r["seconds_per_run"])
        lines.append(f"| {name} | {r['examples_per_second']:.1f} | {r['ms_per_step']:.2f} | "
                     f"{runs} | {r['examples_per_second'] / ref:.2f}x |")
    return lines


def compiled_peer_lines(report: dict) -> list[str]:
    """Markdown lines on the torch.compile peer, wherever a results dict in
    `report` holds one (every benchmark's own table shows eager only)."""
    found = []

    def walk(node, where):
        if isinstance(node, dict):
            if COMPILED in node and "pytorch" in node:
                found.append((where, node))
            for key, value in node.items():
                walk(value, where + [str(key)])

    walk(report, [])
    lines = []
    for where, results in found:
        label = " / ".join(k for k in where if k not in ("results", "train_step", "archs"))
        compiled = results[COMPILED]["examples_per_second"]
        lines += ["", f"torch.compile peer{f' ({label})' if label else ''}: "
                  f"{compiled:.1f} ex/s against eager {results['pytorch']['examples_per_second']:.1f}; "
                  + ", ".join(f"{name} / compiled = {r['examples_per_second'] / compiled:.2f}x"
                              for name, r in results.items() if name.startswith("jaxgen"))]
    return lines


def write_report(out_dir: str, name: str, report: dict, to_markdown) -> None:
    """Write NAME.json and NAME.md (`to_markdown(report)`, plus the
    torch.compile peer's lines), print the markdown and warn about a busy machine."""
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    markdown = to_markdown(report) + "\n".join(compiled_peer_lines(report)) + "\n"
    os.makedirs(out_dir, exist_ok=True)
    json_path, md_path = (os.path.join(out_dir, f"{name}.{ext}") for ext in ("json", "md"))
    with open(json_path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(md_path, "w") as f:
        f.write(markdown)
    print(markdown)
    if was_busy(report):
        print(f"warning: load average {report['load_average_before'][0]:.1f} before the run: "
              "other processes shared the cores; the ratios were measured under that load",
              file=sys.stderr)
    print(f"wrote {json_path} and {md_path}")
