"""Markdown tables of the sweep files written by experiments/diffusion/sweep.py.

    python experiments/diffusion/results_table.py experiments/results/diffusion/steps_sweep.jsonl
"""
from __future__ import annotations

import json
import sys

COLUMNS = [("sampler", "sampler", "{}"), ("sample_steps", "steps", "{}"),
           ("eta", "eta", "{}"), ("clip_x0", "clip x0", "{}"), ("guidance", "w", "{}"),
           ("seed", "seed", "{}"), ("num_samples", "N", "{}"), ("fid_fmnist", "FID-FMNIST", "{:.1f}"),
           ("kid_fmnist_mean", "KID-FMNIST", "{:.2f}"),
           ("precision_fmnist", "precision", "{:.3f}"), ("recall_fmnist", "recall", "{:.3f}"),
           ("classifier_accuracy", "classifier acc.", "{:.3f}"),
           ("seconds_per_image", "s / image", "{:.4f}"), ("step", "train step", "{}"),
           ("average_steps", "weights averaged over steps", "{}")]


def table(rows) -> str:
    cols = [c for c in COLUMNS if any(c[0] in r for r in rows)]
    lines = ["| " + " | ".join(c[1] for c in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [fmt.format(r[key]) if r.get(key) is not None else "-" for key, _, fmt in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    for path in sys.argv[1:]:
        with open(path) as f:
            print(f"{path}:\n\n{table([json.loads(line) for line in f if line.strip()])}\n")
