"""The flows' pictures, also offered as the `jaxgen eval` metric `pictures`
(the test NLL and the sampling rate are the shared `nll` and `sample_time`).

    pictures     images: sample grids at several temperatures;
                 2-D: the density heat-map next to samples and data
"""
from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen import data
from jaxgen.engine.images import save_image_grid
from jaxgen.flows import sampling, steps
from jaxgen.flows.models import uses_points

TEMPERATURES = (0.5, 0.7, 0.85, 1.0)
GRID_SIDE = 8
DENSITY_GRID = 200        # heat-map resolution per axis


def temperature_grids(run, key, outdir: str) -> list:
    """One 8x8 grid per temperature, all from the same latents scaled differently."""
    paths = []
    for t in TEMPERATURES:
        config = run.config.copy_and_resolve_references()
        config.temperature = t
        images = jax.jit(functools.partial(sampling.sample, config), static_argnames="num")(
            run.state, key, num=GRID_SIDE ** 2)
        paths.append(save_image_grid(os.path.join(outdir, f"samples_t{t:.2f}.png"), images,
                                     ncols=GRID_SIDE))
    return paths


def density_grid(run, lo, hi, resolution: int = DENSITY_GRID):
    """p(x) on a resolution x resolution grid over [lo, hi]^2: (xs, ys, density [R, R])."""
    axis = jnp.linspace(lo, hi, resolution)
    xs, ys = jnp.meshgrid(axis, axis, indexing="xy")
    points = jnp.stack([xs.ravel(), ys.ravel()], axis=1)  # [R*R, 2]
    log_p = jax.jit(functools.partial(steps.log_likelihood, run.config, run.state))(
        {"point": points}, jax.random.key(0))  # the key is unused: 2-D densities are exact
    return np.asarray(xs), np.asarray(ys), np.exp(np.asarray(log_p)).reshape(xs.shape)


def density_picture(run, key, outdir: str) -> list:
    """Heat-map of the learned density | model samples | training data, one PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    config = run.config
    real = data.load_split(config, "test")["point"][:5000]
    lo, hi = np.percentile(real, 0.5) - 0.5, np.percentile(real, 99.5) + 0.5
    xs, ys, density = density_grid(run, float(lo), float(hi))
    fake = np.asarray(run.sample(key, 5000))
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    axes[0].pcolormesh(xs, ys, density, shading="auto", cmap="viridis")
    axes[0].set_title(f"{config.family} density p(x)")
    for ax, pts, title in ((axes[1], fake, "samples"), (axes[2], real, f"data ({config.dataset})")):
        ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.4)
        ax.set_title(title)
    for ax in axes:
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
    fig.tight_layout()
    path = os.path.join(outdir, f"density_{config.dataset}.png")
    os.makedirs(outdir, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return [path]


def pictures(run, key, outdir: str) -> list:
    if uses_points(run.config):
        return density_picture(run, key, outdir)
    return temperature_grids(run, key, outdir)


def _pictures_metric(run, key, num):
    return {"pictures": pictures(run, key, os.path.join(run.workdir, "pictures"))}


EVALUATIONS = {"pictures": _pictures_metric}
