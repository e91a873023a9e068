"""PNG output: image grids and metric curves."""
from __future__ import annotations

import json
import math
import os

import numpy as np
from PIL import Image

# Logged values that measure the machine, not the run: they differ between a
# run and its exact resume, and are not plotted as curves of the model.
WALL_CLOCK_KEYS = ("steps_per_sec", "train_seconds")


def image_grid(images, ncols: int | None = None, pad: int = 2) -> np.ndarray:
    """[N, H, W, C] floats in [0, 1] -> one uint8 picture [rows*(H+pad)+pad, ...]."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    if images.ndim != 4:
        raise ValueError(f"expected images [N, H, W, C], got shape {images.shape}")
    n, h, w, c = images.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    grid = np.ones((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), np.float32)
    for i, image in enumerate(images):
        r, col = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = image
    grid = (grid * 255.0 + 0.5).astype(np.uint8)
    return grid[..., 0] if c == 1 else grid


def save_image_grid(path: str, images, ncols: int | None = None, scale: int = 2) -> str:
    grid = Image.fromarray(image_grid(images, ncols))
    if scale > 1:  # 28-pixel images are too small to look at unscaled
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    grid.save(path)
    return path


def read_metrics(jsonl_path: str) -> list[dict]:
    if not os.path.exists(jsonl_path):
        return []
    from jaxgen.engine.logging import parse_row
    with open(jsonl_path) as f:  # a line cut short by a kill or a full disk is skipped
        rows = [parse_row(line) for line in f if line.strip()]
    return [row for row in rows if row is not None]


def plot_metrics(jsonl_path: str, out_path: str) -> str | None:
    """One panel per logged quantity, train and test curves together."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(jsonl_path)
    skip = {"step", "split", "time", "num_samples", *WALL_CLOCK_KEYS}
    names = sorted({k for r in rows for k, v in r.items()
                    if k not in skip and isinstance(v, (int, float))})
    if not names:
        return None
    ncols = min(3, len(names))
    nrows = int(math.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.5 * ncols, 3.2 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for split in sorted({r["split"] for r in rows}):
            points = [(r["step"], r[name]) for r in rows if r["split"] == split and name in r]
            if points:
                steps, values = zip(*points)
                ax.plot(steps, values, label=split, marker="." if len(points) < 30 else None)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.legend()
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path


def save_points(path: str, points, title: str | None = None) -> str:
    """Scatter plot of 2-D samples [N, 2] (the toy distributions)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = np.asarray(points)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
