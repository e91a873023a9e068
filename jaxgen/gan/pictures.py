"""GAN pictures: sample grids from raw and EMA weights, class rows, and 2-D
scatters over the true density (single panels and rows of training snapshots)."""
from __future__ import annotations

import os

import jax
import numpy as np

from jaxgen.engine.images import save_image_grid
from jaxgen.gan.models import is_points, num_classes

DENSITY_POINTS = 20_000  # true samples drawn for the background density
DENSITY_BINS = 200
GRID_COLUMNS = 8  # unconditional grids: 8 x 8
PER_CLASS = 10    # class-conditional grids: one row of 10 per class


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_limits(dataset: str) -> float:
    """Half-width of the square plotted for a toy dataset."""
    return 5.5 if dataset == "grid25" else 1.6 if dataset == "ring8" else 3.0


def draw_over_density(ax, dataset: str, points, title: str | None = None) -> None:
    """True density in grey (log histogram of fresh data samples), samples on top in red."""
    from jaxgen.data import toy2d
    truth = np.asarray(toy2d.sample(dataset, jax.random.key(1234), DENSITY_POINTS))
    lim = plot_limits(dataset)
    hist, _, _ = np.histogram2d(truth[:, 0], truth[:, 1], bins=DENSITY_BINS,
                                range=[[-lim, lim], [-lim, lim]])
    ax.imshow(np.log1p(hist.T), origin="lower", extent=(-lim, lim, -lim, lim), cmap="Greys")
    points = np.asarray(points)
    ax.scatter(points[:, 0], points[:, 1], s=1.5, c="tab:red", alpha=0.5, linewidths=0)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def save_panels(path: str, dataset: str, panels, ncols: int | None = None,
                size: float = 2.4, suptitle: str | None = None) -> str:
    """panels: [(title, points [N, 2])] -> one PNG, a row (or grid) of scatters."""
    plt = _plt()
    ncols = ncols or len(panels)
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3),
                             squeeze=False)
    for ax, (title, points) in zip(axes.flat, panels):
        draw_over_density(ax, dataset, points, title)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _sample_with(run, key, num, sample_from: str, cond=None):
    config = run.config.copy_and_resolve_references()
    config.sample_from = sample_from
    return np.asarray(jax.device_get(run.family.sample(config, run.state, key, num, cond)))


def pictures(run, key, outdir: str) -> list:
    """Sample grids (raw and, if kept, EMA weights; cgan: one row per class),
    or for 2-D data the samples over the true density."""
    os.makedirs(outdir, exist_ok=True)
    sources = ["raw"] + (["ema"] if run.config.ema_decay > 0 else [])
    written = []
    if is_points(run.config):
        panels = [(f"{s} weights, step {run.step}", _sample_with(run, key, 2500, s))
                  for s in sources]
        written.append(save_panels(os.path.join(outdir, "samples_over_density.png"),
                                   run.config.dataset, panels))
        return written
    # cond=None puts one class in each row of PER_CLASS (jaxgen.nn.conditioning).
    classes = num_classes(run.config)
    num, ncols = (classes * PER_CLASS, PER_CLASS) if classes else (GRID_COLUMNS ** 2, GRID_COLUMNS)
    for source in sources:  # the same latents for both, so the grids compare
        images = _sample_with(run, key, num, source)
        written.append(save_image_grid(os.path.join(outdir, f"samples_{source}.png"), images,
                                       ncols=ncols))
    return written


def pictures_metric(run, key, num):
    del num
    return {"pictures": pictures(run, key, os.path.join(run.workdir, "pictures"))}
