"""Multi-process training on one machine, at 2 and 4 processes, against one process.

For each family (a tiny VAE and a tiny GAN, 4 CPU devices in all) it runs,
through the real command line:
  1x4  one process with 4 devices (the reference);
  Nx(4/N), N = 2 and 4: uninterrupted (U); killed (K: the last process is
       SIGKILLed right after checkpoint KILL_AT); restarted (R: resumes K's
       workdir to the end);
and prints one table row per (family, N):
  curve      max relative difference of U's logged values from the reference;
  params     every process of U ends with the same parameters (hash);
  shares     each process fed its own contiguous part of the reference's
             global batches: together all of them, none twice;
  resume     R ends with U's metrics and parameters, bit for bit;
  stop       seconds from the kill until the last survivor exited (non-zero,
             with jax's "another task died"), heartbeat timeout HEARTBEAT s.

    python experiments/scale/multiprocess.py [--families vae,gan] [--processes 2,4]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from jaxgen.engine import distributed, local_cluster  # noqa: E402
from jaxgen.engine.images import WALL_CLOCK_KEYS  # noqa: E402

DEVICES, STEPS, KILL_AT, HEARTBEAT = 4, 4, 2, 10
TINY = {  # tests/tiny_configs.py's sizes; a schedule with a checkpoint at KILL_AT
    "vae": {"enc_channels": "(4, 8, 8)", "dec_channels": "(8, 8, 4)", "latent_dim": "2",
            "iwae_samples": "2"},
    "gan": {"g_hidden": "(16, 16)", "d_hidden": "(16, 16)", "latent_dim": "4"},
}
SCHEDULE = {"batch_size": "8", "steps": str(STEPS), "log_every": "1", "eval_every": "100",
            "sample_every": "100", "ckpt_every": str(KILL_AT), "eval_batches": "1",
            "num_grid": "4"}


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def metrics(workdir):
    return [{k: v for k, v in row.items() if k not in WALL_CLOCK_KEYS}
            for row in read_jsonl(os.path.join(workdir, "metrics.jsonl"))]


def launch(root, name, family, processes, workdir=None, env=None, **kwargs):
    workdir = workdir or os.path.join(root, name)
    args = [family, "--workdir", workdir, "--no-progress",
            *[f"--config.{k}={v}" for k, v in {**SCHEDULE, **TINY[family]}.items()]]
    extra = {distributed.DEBUG_DIR: os.path.join(root, name + "_debug"), **(env or {})}
    result = local_cluster.run_train(args, processes, DEVICES // max(processes, 1), env=extra,
                                     timeout=900, **kwargs)
    result.workdir, result.debug = workdir, extra[distributed.DEBUG_DIR]
    return result


def debug(result, record, process=0):
    return read_jsonl(os.path.join(result.debug, f"{record}.process-{process}.jsonl"))


def ok(result):
    if any(result.returncodes):
        raise SystemExit(f"a run failed ({result.returncodes}):\n" + result.outputs[0][-3000:])
    return result


def curve_difference(multi, single) -> float:
    if [(r["step"], r["split"]) for r in multi] != [(r["step"], r["split"]) for r in single]:
        return float("inf")
    worst = 0.0
    for m, s in zip(multi, single):
        for key in m:
            if key not in ("step", "split"):
                a, b = np.asarray(m[key], float), np.asarray(s[key], float)
                worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12))))
    return worst


def shares_exact(multi, single, processes) -> bool:
    whole = [r["rows"] for r in debug(single, "batches") if r["field"] == "image"]
    parts = [[r["rows"] for r in debug(multi, "batches", p) if r["field"] == "image"]
             for p in range(processes)]
    if any(len(p) != len(whole) for p in parts):
        return False
    joined = [sum((p[i] for p in parts), []) for i in range(len(whole))]
    fed = [row for rows in joined for row in rows]
    return joined == whole and len(set(fed)) == len(fed)


def row(family, processes, single):
    root = tempfile.mkdtemp(prefix=f"mp_{family}_{processes}_")
    start = time.perf_counter()
    uninterrupted = ok(launch(root, "U", family, processes))
    wall = time.perf_counter() - start
    hashes = [debug(uninterrupted, "state", p) for p in range(processes)]
    victim = processes - 1
    killed = launch(root, "K", family, processes, heartbeat_timeout=HEARTBEAT,
                    env={distributed.DEBUG_KILL_AT: f"{KILL_AT}:{victim}"})
    survivors = [i for i in range(processes) if i != victim]
    stopped = (killed.returncodes[victim] == -9
               and all(killed.returncodes[i] not in (0, None) for i in survivors)
               and all("another task died" in killed.outputs[i] for i in survivors))
    stop_s = max(killed.ended[i] for i in survivors) - killed.ended[victim]
    resumed = ok(launch(root, "R", family, processes, workdir=killed.workdir))
    resumed_hashes = [debug(resumed, "state", p) for p in range(processes)]
    return {
        "family": family, "run": f"{processes}x{DEVICES // processes}",
        "wall_s": f"{wall:.0f}",
        "curve": f"{curve_difference(metrics(uninterrupted.workdir), metrics(single.workdir)):.1e}",
        "params": "same" if hashes[0] and all(h == hashes[0] for h in hashes) else "DIFFER",
        "shares": "exact" if shares_exact(uninterrupted, single, processes) else "WRONG",
        "resume": ("bit-exact" if metrics(killed.workdir) == metrics(uninterrupted.workdir)
                   and all(h == hashes[0] for h in resumed_hashes) else "DIFFERS"),
        "stop": f"{stop_s:.0f} s" + ("" if stopped else " (NOT CLEAN)"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="vae,gan")
    parser.add_argument("--processes", default="2,4")
    args = parser.parse_args()
    rows = []
    for family in args.families.split(","):
        start = time.perf_counter()
        single = ok(launch(tempfile.mkdtemp(prefix=f"mp_{family}_1_"), "S", family, 0))
        rows.append({"family": family, "run": f"1x{DEVICES}",
                     "wall_s": f"{time.perf_counter() - start:.0f}", "curve": "reference",
                     "params": "-", "shares": "-", "resume": "-", "stop": "-"})
        for processes in [int(p) for p in args.processes.split(",")]:
            rows.append(row(family, processes, single))
            print(rows[-1], file=sys.stderr, flush=True)
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
