"""FID-FMNIST against training minutes, and the D/G balance, of GAN runs (issue 18).

Reads each run's metrics.jsonl: rows of split "metrics" (the periodic FID the
config's `metrics_every` asks for, with `train_seconds`, the training wall time
without the measuring) and rows of split "train" (mean discriminator outputs on
real and fake batches). One PNG with two panels:

    python experiments/gan/fid_curves.py --out experiments/results/gan/fid_curves.png \
        dcgan=runs/gan/dcgan_fmnist cgan=runs/gan/cgan_fmnist wgan_gp=runs/gan/wgan_gp_fmnist

It also prints the curve as a markdown table (minutes, step, FID, precision, recall).
"""
from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from jaxgen.engine.images import read_metrics  # noqa: E402

GOAL_FID = 50.0


def read_rows(workdir: str, split: str) -> list[dict]:
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    return [r for r in rows if r.get("split") == split]


def fid_key(row: dict) -> str:
    return next(k for k in row if k.startswith("fid"))


def markdown_curve(name: str, rows: list[dict]) -> str:
    lines = [f"{name}:", "", "| train min | step | FID-FMNIST | precision | recall |",
             "|---|---|---|---|---|"]
    for r in rows:
        prec = next((r[k] for k in r if k.startswith("precision")), float("nan"))
        rec = next((r[k] for k in r if k.startswith("recall")), float("nan"))
        lines.append(f"| {r['train_seconds'] / 60:.1f} | {r['step']} | {r[fid_key(r)]:.1f} "
                     f"| {prec:.3f} | {rec:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="NAME=WORKDIR")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    fig, (ax_fid, ax_d) = plt.subplots(1, 2, figsize=(11, 4))
    for spec in args.runs:
        name, workdir = spec.split("=", 1)
        measured = read_rows(workdir, "metrics")
        if measured:
            minutes = [r["train_seconds"] / 60 for r in measured]
            line, = ax_fid.plot(minutes, [r[fid_key(r)] for r in measured], "o-", label=name)
            print(markdown_curve(name, measured), "\n")
        train = read_rows(workdir, "train")
        minutes = [r["train_seconds"] / 60 for r in train]
        color = line.get_color() if measured else None
        ax_d.plot(minutes, [r["d_real"] for r in train], "-", color=color, label=f"{name} D(real)")
        ax_d.plot(minutes, [r["d_fake"] for r in train], "--", color=color, label=f"{name} D(fake)")
    ax_fid.axhline(GOAL_FID, color="grey", lw=0.8, ls=":", label="goal 50")
    ax_fid.set_yscale("log")
    ax_fid.set_xlabel("training minutes (measuring excluded)")
    ax_fid.set_ylabel("FID-FMNIST, 10,000 samples")
    ax_fid.legend(fontsize=8)
    ax_d.axhline(0.0, color="grey", lw=0.8)
    ax_d.set_xlabel("training minutes")
    ax_d.set_ylabel("mean D output (logit), per 100-step log row")
    ax_d.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
