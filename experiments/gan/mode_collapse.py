"""Mode-collapse lab: vanilla GAN vs PacGAN vs unrolled GAN vs WGAN-GP on ring8 / grid25.

PacGAN protocol (Lin et al. 2018, Table 1): after training, draw 2500 samples;
a sample is high quality within 3 std of its nearest mode; a mode is covered
when at least one high-quality sample lands on it; reverse KL compares the
histogram of high-quality samples over the modes with the uniform one
(jaxgen.metrics.modes). Every method is the `gan` / `wgan_gp` family with the
same MLP networks; each runs for `--seeds` seeds, all in this one process
through the Python engine (jaxgen.engine.loop.train, a workdir per run under
--workdir). Seed 0 of every method is trained in chunks (exact resumes) to
record snapshots of its samples over training.

    nice -n 19 python experiments/gan/mode_collapse.py --datasets ring8,grid25 --seeds 10

Writes experiments/results/gan/mode_collapse.{md,json}, <dataset>_methods.png
(final samples of seed 0 over the true density, one panel per method) and
<dataset>_snapshots.png (one row per method, samples over training).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import jax
import numpy as np

import jaxgen
from jaxgen.engine.config import apply_overrides, build_config, flatten
from jaxgen.engine.loop import train
from jaxgen.gan.pictures import save_panels
from jaxgen.metrics.modes import toy_mode_coverage

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NUM_SAMPLES = 2500  # PacGAN protocol
NUM_SNAPSHOTS = 6
NUM_MODES = {"ring8": 8, "grid25": 25}

# The networks every method shares (PacGAN's 2-D setting: 2-D latent, MLPs).
COMMON = {"arch": "mlp", "latent_dim": 2, "g_hidden": (128, 128, 128),
          "d_hidden": (128, 128, 128), "activation": "relu", "d_dropout": 0.0,
          "batch_size": 128, "steps_per_call": 100, "optim.g.learning_rate": 1e-3,
          "optim.d.learning_rate": 1e-3, "log_every": 500, "eval_every": 100_000,
          "sample_every": 100_000, "ckpt_every": 100_000, "num_grid": 1000}

# Method name -> (family, overrides).
METHODS = {
    "vanilla": ("gan", {}),
    "pacgan4": ("gan", {"pack": 4}),
    "unrolled3": ("gan", {"unroll_steps": 3}),
    "wgan_gp": ("wgan_gp", {"gp_weight": 0.1, "batch_size": 5 * 64}),
}


def method_config(method: str, dataset: str, seed: int, steps: int):
    family, extra = METHODS[method]
    # Both learning rates decay (cosine, to 1%) over the run.
    decay = {f"optim.{net}.{key}": value for net in ("g", "d") for key, value in
             (("schedule", "cosine"), ("decay_steps", steps), ("final_lr_fraction", 0.01))}
    overrides = {**COMMON, **extra, **decay, "dataset": dataset, "seed": seed, "steps": steps}
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return apply_overrides(build_config(family), overrides, from_string=False)


def draw(workdir: str) -> np.ndarray:
    run = jaxgen.load(workdir)
    return np.asarray(run.sample(jax.random.key(12345), NUM_SAMPLES))


def score(dataset: str, points) -> dict:
    values = jax.device_get(toy_mode_coverage(dataset, points))
    return {"modes": int(values["modes_covered"]), "hq": float(values["high_quality"]),
            "reverse_kl": float(values["reverse_kl"])}


def run_one(config, workdir: str, snapshots: bool):
    """Train (in NUM_SNAPSHOTS chunks if `snapshots`), return (scores, points, snaps, seconds)."""
    start, snaps = time.perf_counter(), []
    total = config.steps
    # Chunk ends on multiples of steps_per_call: the engine runs whole fused calls.
    k = config.steps_per_call
    marks = [k * round(total * (i + 1) / NUM_SNAPSHOTS / k) for i in range(NUM_SNAPSHOTS)] \
        if snapshots else [total]
    for mark in marks:
        config.steps = mark
        train(config, workdir, progress=False)
        if snapshots:
            snaps.append((mark, draw(workdir)))
    points = snaps[-1][1] if snapshots else draw(workdir)
    return score(config.dataset, points), points, snaps, time.perf_counter() - start


def summarise(rows: list) -> dict:
    """mean and standard error over seeds of each score, and the count of perfect seeds."""
    out = {}
    for name in ("modes", "hq", "reverse_kl"):
        values = np.asarray([r[name] for r in rows], np.float64)
        se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
        out[name] = (float(values.mean()), float(se))
    return out


def markdown(results: dict, args) -> str:
    lines = ["| dataset | method | modes (mean ± s.e.) | high quality % | reverse KL | "
             "seeds with all modes and >= 95% HQ | wall s / run |",
             "|---|---|---|---|---|---|---|"]
    for dataset, methods in results.items():
        for method, entry in methods.items():
            s, rows = entry["summary"], entry["runs"]
            perfect = sum(r["modes"] == NUM_MODES[dataset] and r["hq"] >= 0.95 for r in rows)
            wall = np.mean([r["seconds"] for r in rows])
            lines.append(
                f"| {dataset} | {method} | {s['modes'][0]:.1f} ± {s['modes'][1]:.1f} | "
                f"{100 * s['hq'][0]:.1f} ± {100 * s['hq'][1]:.1f} | "
                f"{s['reverse_kl'][0]:.3f} ± {s['reverse_kl'][1]:.3f} | "
                f"{perfect}/{len(rows)} | {wall:.0f} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="ring8,grid25")
    p.add_argument("--methods", default="vanilla,pacgan4,unrolled3,wgan_gp")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0,
                   help="run seeds first-seed .. seeds-1, merged with the runs already in the json")
    p.add_argument("--steps", type=int, default=2000, help="generator updates per run")
    p.add_argument("--workdir", default=os.path.join(ROOT, "runs", "gan_lab"))
    p.add_argument("--out", default=os.path.join(ROOT, "experiments", "results", "gan"))
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, "mode_collapse.json")
    results = json.load(open(json_path)) if os.path.exists(json_path) else {}

    for dataset in args.datasets.split(","):
        finals, rows_of_snaps = [], []
        for method in args.methods.split(","):
            done = results.get(dataset, {}).get(method, {}).get("runs", [])
            rows = [r for r in done if r["seed"] < args.first_seed]
            for seed in range(args.first_seed, args.seeds):
                config = method_config(method, dataset, seed, args.steps)
                workdir = os.path.join(args.workdir, dataset, method, f"seed{seed}")
                scores, points, snaps, seconds = run_one(config, workdir, snapshots=seed == 0)
                rows.append({"seed": seed, **scores, "seconds": round(seconds, 1)})
                print(f"{dataset} {method} seed {seed}: {scores} ({seconds:.0f} s)", flush=True)
                if seed == 0:
                    finals.append((f"{method}: {scores['modes']} modes, "
                                   f"{100 * scores['hq']:.0f}% HQ", points))
                    rows_of_snaps += [(f"{method}, step {step}", pts) for step, pts in snaps]
            config_used = {k: v for k, v in flatten(config.to_dict()).items() if k != "seed"}
            results.setdefault(dataset, {})[method] = {
                "runs": rows, "summary": summarise(rows), "config": config_used}
            with open(json_path, "w") as f:
                json.dump(results, f, indent=1, default=list)
        if finals:  # seed 0 was run
            save_panels(os.path.join(args.out, f"{dataset}_methods.png"), dataset, finals,
                        suptitle=f"{dataset}: {NUM_SAMPLES} samples of seed 0 over the true density")
            save_panels(os.path.join(args.out, f"{dataset}_snapshots.png"), dataset,
                        rows_of_snaps, ncols=NUM_SNAPSHOTS, size=1.8)
    with open(os.path.join(args.out, "mode_collapse.md"), "w") as f:
        f.write(markdown(results, args))
    print(markdown(results, args))


if __name__ == "__main__":
    main()
