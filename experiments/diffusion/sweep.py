"""Sample-quality sweeps of a trained `ddpm` run: sampler x steps, or guidance w.

For each setting: draw N samples (batches of --batch; a conditional run's
labels 0..K-1 repeated within each batch, `sweep_labels`),
time the sampling per image (batches after the first, which compiles), and
compute FID-FMNIST, KID, precision/recall (jaxgen.metrics) and the accuracy
of the shipped Fashion-MNIST classifier on the samples against the labels
they were asked for (overall and per class). One JSON object per setting is
appended to --out.

    nice -n 19 python experiments/diffusion/sweep.py --workdir runs/ddpm_pixel_cond \
        --set sampler=ddim,sample_steps=10 --set sampler=ddim,sample_steps=50 --num 500 \
        --out experiments/results/diffusion/sweep.jsonl

FID from a few hundred samples is biased upward (it shrinks as N grows):
compare values only at equal N.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import jax
import numpy as np

import jaxgen
from jaxgen import data
from jaxgen.metrics import load_extractor
from jaxgen.metrics.evaluations import image_metrics


def sweep_labels(run, num: int):
    """The labels a conditional run samples in these scripts: 0..K-1 repeated
    (the layout the recorded sweeps used); None for an unconditional run."""
    if not run.family.is_conditional(run.config):
        return None
    return np.arange(num) % data.num_classes(run.config)


def draw_timed(run, key, num: int, batch: int):
    """Samples [num, H, W, C], their labels (None if unconditional),
    compile+first-batch seconds, and the seconds per image of the later
    batches (None if there is only one)."""
    labels = sweep_labels(run, batch)
    chunks, seconds = [], []
    for i in range(-(-num // batch)):
        start = time.perf_counter()
        chunks.append(np.asarray(jax.device_get(
            run.sample(jax.random.fold_in(key, i), batch, cond=labels))))
        seconds.append(time.perf_counter() - start)
    if labels is not None:
        labels = np.tile(labels, len(chunks))[:num]
    per_image = sum(seconds[1:]) / (batch * (len(seconds) - 1)) if len(seconds) > 1 else None
    return np.concatenate(chunks)[:num], labels, seconds[0], per_image


def load_averaged(workdir: str, setting: dict, steps: list[int]):
    """The run at the last of `steps`, its weights (params and EMA params)
    replaced by their mean over the checkpoints of all `steps`: checkpoint
    averaging, a cheap longer-horizon average of the weights."""
    runs = [jaxgen.load(workdir, overrides=setting, step=s) for s in steps]

    def mean(*trees):
        return jax.tree.map(lambda *leaves: sum(leaves) / len(leaves), *trees)

    runs[-1].state = runs[-1].state.replace(
        params=mean(*[r.state.params for r in runs]),
        ema_params=mean(*[r.state.ema_params for r in runs]))
    return runs[-1]


def classifier_accuracy(samples, labels, extractor) -> dict:
    """How often the extractor's classifier (Fashion-MNIST's) names the asked-for class."""
    logits, _ = extractor(samples)
    predicted = np.asarray(np.argmax(logits, -1))
    per_class = [float(np.mean(predicted[labels == k] == k)) for k in range(logits.shape[-1])]
    return {"classifier_accuracy": float(np.mean(predicted == labels)),
            "classifier_accuracy_per_class": [round(a, 3) for a in per_class]}


def parse_setting(text: str) -> dict:
    return dict(item.split("=", 1) for item in text.split(","))


def sampling_arguments(description: str, num: int) -> argparse.ArgumentParser:
    """The arguments every script that samples settings of one run shares."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--workdir", required=True)
    p.add_argument("--set", action="append", required=True, type=parse_setting,
                   help="config overrides of one setting, KEY=VALUE,KEY=VALUE")
    p.add_argument("--num", type=int, default=num)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--step", type=int, default=None,
                   help="checkpoint to load (default: the latest)")
    return p


def main():
    p = sampling_arguments(__doc__.split("\n")[0], num=500)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--average-steps", type=lambda t: [int(v) for v in t.split(",")],
                   default=None, help="S1,S2,...: sample with the mean of these "
                   "checkpoints' weights instead of one checkpoint's")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if args.step is not None and args.average_steps:
        p.error("give --step or --average-steps, not both")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    extractor = load_extractor()
    for setting in args.set:
        run = (load_averaged(args.workdir, setting, args.average_steps) if args.average_steps
               else jaxgen.load(args.workdir, overrides=setting, step=args.step))
        key = jax.random.key(args.seed)
        start = time.perf_counter()
        samples, labels, first, per_image = draw_timed(run, key, args.num, args.batch)
        row = {"workdir": args.workdir, "step": run.step, **setting, "num_samples": args.num,
               "seed": args.seed, "first_batch_seconds_incl_compile": round(first, 2),
               "seconds_per_image": per_image, "sampling_wall_seconds":
               round(time.perf_counter() - start, 1)}
        if args.average_steps:
            row["average_steps"] = args.average_steps
        row.update(image_metrics(("fid", "kid", "pr"), samples, jax.random.fold_in(key, 10**6),
                                 run.config, extractor))
        if labels is not None:
            row.update(classifier_accuracy(samples, labels, extractor))
        print(json.dumps(row), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
