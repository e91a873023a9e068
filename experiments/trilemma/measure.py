"""Training and evaluating the trilemma's entries through `jaxgen train` and `jaxgen eval`.

Both run as subprocesses of the one command line (same interpreter, same
PYTHONPATH, the caller's niceness), so every number is what a user of
`jaxgen eval` gets for the same workdir; nothing here computes a metric.

Resumable: an entry whose workdir already holds the checkpoint of its last
step is not trained again, and an evaluation whose inputs (workdir, step,
metrics, --num, seed, sampler overrides) match a cached result in
OUT/evals/ is not run again.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from jaxgen.engine.images import read_metrics
from jaxgen.errors import JaxgenError

CHECKPOINTS = "checkpoints"


def saved_steps(workdir: str) -> list[int]:
    """Finished checkpoint steps of a workdir, read from the folder names (as the engine does)."""
    folder = os.path.join(workdir, CHECKPOINTS)
    if not os.path.isdir(folder):
        return []
    return sorted(int(name) for name in os.listdir(folder) if name.isdigit())


def is_trained(workdir: str, steps: int) -> bool:
    return steps in saved_steps(workdir)


def metrics_rows(workdir: str, split: str | None = None) -> list[dict]:
    """The rows of WORKDIR/metrics.jsonl (of one split), skipping a torn last line."""
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    return [r for r in rows if split is None or r.get("split") == split]


def train_seconds(workdir: str) -> float | None:
    """The engine's training seconds of the run (its last logged value): wall time of
    the train steps, without the periodic metrics' evaluations."""
    seconds = [r["train_seconds"] for r in metrics_rows(workdir) if "train_seconds" in r]
    return float(seconds[-1]) if seconds else None


def _cli(args: list[str], log_path: str) -> subprocess.CompletedProcess:
    """`python -m jaxgen.cli ARGS`, output appended to log_path; raises on failure with
    the last line of stderr (the CLI's one-line error)."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    command = [sys.executable, "-m", "jaxgen.cli", *args]
    with open(log_path, "a") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        result = subprocess.run(command, stdout=log, stderr=subprocess.PIPE, text=True)
        log.write(result.stderr)
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {result.returncode}"
        raise JaxgenError(f"jaxgen {args[0]} failed ({last}); see {log_path}")
    return result


def overrides_args(overrides: dict) -> list[str]:
    return [f"--config.{key}={value}" for key, value in sorted(overrides.items())]


def train(config_file: str, workdir: str, overrides: dict, log_path: str) -> dict:
    """Train (or resume, or reuse) one entry; returns what the table says about it."""
    steps = int(overrides["steps"])
    reused = is_trained(workdir, steps)
    start = time.perf_counter()
    if not reused:
        _cli(["train", "--config", config_file, "--workdir", workdir, "--no-progress",
              *overrides_args(overrides)], log_path)
    seconds = train_seconds(workdir)
    return {"workdir": workdir, "config_file": config_file, "steps": steps,
            "train_seconds": seconds,
            "measured_steps_per_sec": steps / seconds if seconds else None,
            "reused": reused, "wall_seconds_this_call": time.perf_counter() - start}


def _cache_path(out_dir: str, row: str, what: str) -> str:
    return os.path.join(out_dir, "evals", f"{row.replace('/', '-')}.{what}.json")


def evaluate(workdir: str, metrics: list[str], num: int, seed: int, overrides: dict,
             out_dir: str, row: str, what: str, log_path: str) -> dict:
    """`jaxgen eval --workdir W --metrics M --num N --seed S --config.K=V ...`: the
    values of this call, read from WORKDIR/eval.json (cached in OUT/evals/)."""
    step = max(saved_steps(workdir), default=None)
    # train_seconds tells a retrained workdir (same step, new weights) from the cached one.
    inputs = {"workdir": os.path.abspath(workdir), "step": step,
              "train_seconds": train_seconds(workdir), "metrics": metrics,
              "num": num, "seed": seed, "overrides": overrides}
    cache = _cache_path(out_dir, row, what)
    if os.path.exists(cache):
        with open(cache) as f:
            cached = json.load(f)
        if cached.get("inputs") == inputs:
            return cached["values"]
    start = time.perf_counter()
    _cli(["eval", "--workdir", workdir, "--metrics", ",".join(metrics), "--num", str(num),
          "--seed", str(seed), *overrides_args(overrides)], log_path)
    seconds = time.perf_counter() - start
    with open(os.path.join(workdir, "eval.json")) as f:
        merged = json.load(f)
    # eval.json merges the calls on one step; keep the keys this call wrote.
    values = {k: v for k, v in merged.items() if belongs_to(k, metrics)}
    values["eval_seconds_" + what] = seconds
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "w") as f:
        json.dump({"inputs": inputs, "values": values}, f, indent=2)
    return values


# The keys each shared evaluation writes (jaxgen/metrics/evaluations.py, runner.py);
# image keys end in the extractor's tag (`_fmnist`).
KEY_PREFIXES = {
    "nll": ("nll_nats", "num_images", "likelihood_kind", "bpd"),
    "sample_time": ("images_per_sec", "seconds_per_image", "network_evals_per_image",
                    "sample_batch", "device"),
    "fid": ("fid_",), "pr": ("precision_", "recall_"),
    "classes": ("class_counts_", "class_kl_"),
    "modes": ("modes_covered", "high_quality", "reverse_kl"),
}
SAMPLE_KEYS = ("num_samples", "extractor")


def belongs_to(key: str, metrics: list[str]) -> bool:
    if key == "step":
        return True
    if key in SAMPLE_KEYS:
        return any(m in ("fid", "pr", "classes", "modes") for m in metrics)
    return any(key.startswith(prefix) for m in metrics for prefix in KEY_PREFIXES.get(m, ()))
