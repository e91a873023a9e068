"""DANN pictures: a 2-D PCA of the test features of both domains, and the
domain classifier's training accuracy over steps (towards 0.5 as the
features stop telling the domains apart)."""
from __future__ import annotations

import os

import numpy as np

from jaxgen.dann.evaluation import per_side
from jaxgen.engine.images import read_metrics

PICTURE_IMAGES = 500  # test images per domain in the projection


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def pca_2d(features) -> np.ndarray:
    """Rows [N, F] projected on their two leading principal axes. [N, 2]"""
    centred = features - features.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def draw_projection(ax, projected: dict, title: str) -> None:
    """projected: side -> [N, 2] points, one colour per side."""
    colours = {"source": "tab:blue", "target": "tab:red"}
    for side, points in projected.items():
        ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.5, c=colours[side], label=side,
                   linewidths=0)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, markerscale=3)


def projection(run, key, num: int = PICTURE_IMAGES) -> dict:
    """side -> [N, 2]: both domains' features projected on the same axes."""
    values = per_side(run, key, num)
    sides = list(values)
    feats = np.concatenate([values[s]["features"] for s in sides])
    points = pca_2d(feats)
    sizes = np.cumsum([0] + [len(values[s]["features"]) for s in sides])
    return {s: points[sizes[i]:sizes[i + 1]] for i, s in enumerate(sides)}


def save_projection(path: str, run, key, title: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(3.6, 3.6))
    draw_projection(ax, projection(run, key), title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def domain_accuracy_curve(workdir: str):
    """(steps, domain accuracy) of the training rows of metrics.jsonl."""
    path = os.path.join(workdir, "metrics.jsonl")
    rows = [r for r in read_metrics(path) if r.get("split") == "train"
            and "domain_accuracy" in r] if os.path.exists(path) else []
    return np.array([r["step"] for r in rows]), np.array([r["domain_accuracy"] for r in rows])


def save_domain_curve(path: str, workdir: str) -> str | None:
    steps, acc = domain_accuracy_curve(workdir)
    if not len(steps):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.0, 2.8))
    ax.plot(steps, acc)
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("domain accuracy (train batch)")
    ax.set_ylim(0.0, 1.05)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def pictures(run, key, outdir: str) -> list:
    os.makedirs(outdir, exist_ok=True)
    mode = "DANN" if run.config.adapt else "no adaptation"
    written = [save_projection(os.path.join(outdir, "features_pca.png"), run, key,
                               f"{mode}, step {run.step}")]
    curve = save_domain_curve(os.path.join(outdir, "domain_accuracy.png"), run.workdir)
    return written + ([curve] if curve else [])


def pictures_metric(run, key, num):
    del num
    return {"pictures": pictures(run, key, os.path.join(run.workdir, "pictures"))}


