"""`jaxgen eval` for the flows: test NLL (nats, bits/dim), sampling time, pictures.

    nll          test NLL in nats per example over the first `num` test examples
                 (images: the dequantization bound, uniform or variational
                 noise, one draw per image, and bits/dim on the 784 8-bit
                 pixels; 2-D: exact)
    sample_time  seconds per sample of the jitted sampler (after compilation)
    pictures     images: sample grids at several temperatures;
                 2-D: the density heat-map next to samples and data
"""
from __future__ import annotations

import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen import data
from jaxgen.engine.images import save_image_grid
from jaxgen.metrics import bits_per_dim

NUM_PIXELS = 28 * 28  # bits/dim are per 8-bit pixel of a Fashion-MNIST image
EVAL_BATCH = 500
TEMPERATURES = (0.5, 0.7, 0.85, 1.0)
GRID_SIDE = 8
DENSITY_GRID = 200        # heat-map resolution per axis
SAMPLE_TIME_NUM = 100     # samples per timed call


def evaluate_nll(run, key, num: int) -> dict:
    config = run.config
    arrays = data.load_arrays(config, "test")
    total = min(num, len(next(iter(arrays.values()))))
    fn = jax.jit(functools.partial(run.family.log_likelihood, config, run.state))
    nats = []
    for i, start in enumerate(range(0, total, EVAL_BATCH)):
        batch = {k: v[start:start + EVAL_BATCH][:total - start] for k, v in arrays.items()}
        nats.append(np.asarray(fn(batch, jax.random.fold_in(key, i)), np.float64))
    nll = -float(np.mean(np.concatenate(nats)))
    out = {"nll_nats": nll, "num_examples": total}
    if not data.is_toy(config.dataset):
        out["nll_bpd"] = float(bits_per_dim(nll, NUM_PIXELS))
        out["dequantization"] = f"{config.dequantization}, 1 draw per image"
    return out


def evaluate_sample_time(run, key, num: int) -> dict:
    """Wall-clock seconds per sample: one batch of SAMPLE_TIME_NUM, timed after a warm-up."""
    del num
    jax.block_until_ready(run.sample(key, SAMPLE_TIME_NUM))  # compiles
    start = time.perf_counter()
    jax.block_until_ready(run.sample(jax.random.fold_in(key, 1), SAMPLE_TIME_NUM))
    seconds = time.perf_counter() - start
    return {"sample_seconds_per_example": seconds / SAMPLE_TIME_NUM,
            "sample_batch": SAMPLE_TIME_NUM}


def temperature_grids(run, key, outdir: str) -> list:
    """One 8x8 grid per temperature, all from the same latents scaled differently."""
    paths = []
    for t in TEMPERATURES:
        config = run.config.copy_and_resolve_references()
        config.temperature = t
        images = jax.jit(functools.partial(run.family.sample, config), static_argnames="num")(
            run.state, key, num=GRID_SIDE ** 2)
        paths.append(save_image_grid(os.path.join(outdir, f"samples_t{t:.2f}.png"), images,
                                     ncols=GRID_SIDE))
    return paths


def density_grid(run, lo, hi, resolution: int = DENSITY_GRID):
    """p(x) on a resolution x resolution grid over [lo, hi]^2: (xs, ys, density [R, R])."""
    axis = jnp.linspace(lo, hi, resolution)
    xs, ys = jnp.meshgrid(axis, axis, indexing="xy")
    points = jnp.stack([xs.ravel(), ys.ravel()], axis=1)  # [R*R, 2]
    log_p = jax.jit(functools.partial(run.family.log_likelihood, run.config, run.state))(
        {"point": points}, jax.random.key(0))  # the key is unused: 2-D densities are exact
    return np.asarray(xs), np.asarray(ys), np.exp(np.asarray(log_p)).reshape(xs.shape)


def density_picture(run, key, outdir: str) -> list:
    """Heat-map of the learned density | model samples | training data, one PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    config = run.config
    real = data.load_arrays(config, "test")["point"][:5000]
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
    if data.is_toy(run.config.dataset):
        return density_picture(run, key, outdir)
    return temperature_grids(run, key, outdir)


def _pictures_metric(run, key, num):
    return {"pictures": pictures(run, key, os.path.join(run.workdir, "pictures"))}


EVALUATIONS = {"nll": evaluate_nll, "sample_time": evaluate_sample_time,
               "pictures": _pictures_metric}
