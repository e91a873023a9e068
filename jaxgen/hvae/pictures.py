"""Pictures of a trained hierarchical VAE (`jaxgen eval --metrics pictures`):

    samples_temperature.png   prior samples at temperatures 1.0, 0.8, 0.6, one row
                              each (the same draws eps in every row)
    group_control.png         what each group controls: per base sample, row n keeps
                              the top n groups of it and draws all lower ones afresh
                              (n = 1 .. G-1; column 0 is the base sample itself)
    reconstructions.png       test images and their posterior-path reconstructions

All images are the pixel mixture's mean; every random choice comes from `key`.
"""
from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from jaxgen import data
from jaxgen.engine.images import image_grid
from jaxgen.hvae import losses, models, sampling

TEMPERATURES = (1.0, 0.8, 0.6)
SAMPLES_PER_ROW = 10
CONTROL_BASES = 2          # base samples in group_control.png
CONTROL_RESAMPLES = 8      # fresh lower groups per row
CONTROL_TEMPERATURE = 0.8
NUM_RECONSTRUCTIONS = 16
PIXELS_PER_INCH = 50


def save_rows(path, rows, title, row_labels) -> str:
    """Images [R, C, H, W, channels] in [0, 1] as a titled grid with row labels."""
    h, w = rows.shape[2:4]
    grid = image_grid(np.reshape(rows, (-1, h, w, rows.shape[-1])), rows.shape[1])
    fig = Figure(figsize=(grid.shape[1] / PIXELS_PER_INCH + 2.5,
                          grid.shape[0] / PIXELS_PER_INCH + 1.0))
    ax = fig.subplots()
    ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks(2 + np.arange(len(row_labels)) * (h + 2) + h / 2, row_labels)
    ax.set_xticks([])
    ax.tick_params(length=0)
    ax.set_title(title, fontsize=9)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def temperature_rows(config, params, key):
    """[len(TEMPERATURES), SAMPLES_PER_ROW, H, W, C]: the same eps at each temperature."""
    return jnp.stack([losses.mean_image(
        sampling.generate(config, params, key, SAMPLES_PER_ROW, t)[0], config.num_mixtures)
        for t in TEMPERATURES])


def control_rows(config, params, key):
    """[CONTROL_BASES * (G - 1), 1 + CONTROL_RESAMPLES, H, W, C]: per base sample,
    row n keeps its top n groups (n = 1 .. G-1)."""
    rows = []
    for b in range(CONTROL_BASES):
        base_key = jax.random.fold_in(key, 1000 + b)
        base = losses.mean_image(
            sampling.generate(config, params, base_key, 1, CONTROL_TEMPERATURE)[0],
            config.num_mixtures)  # [1, H, W, C]
        for n in range(1, models.num_groups(config)):
            fresh = sampling.resample_below(config, params, jax.random.fold_in(base_key, n),
                                            base_key, CONTROL_RESAMPLES, n, CONTROL_TEMPERATURE)
            rows.append(jnp.concatenate([base, fresh]))
    return jnp.stack(rows)


def control_labels(config) -> list:
    names = models.group_names(config, data.image_shape(config))
    return [f"base {b + 1}: keep {', '.join(names[:n])}"
            for b in range(CONTROL_BASES) for n in range(1, len(names))]


def write_pictures(run, key, outdir: str) -> list:
    config, params = run.config, run.state.params
    os.makedirs(outdir, exist_ok=True)
    k_temp, k_control, k_recon = jax.random.split(key, 3)
    out = lambda name: os.path.join(outdir, name)
    rows = jax.jit(functools.partial(temperature_rows, config))(params, k_temp)
    paths = [save_rows(out("samples_temperature.png"), np.asarray(rows),
                       "Prior samples (mixture means), the same noise at each temperature",
                       [f"T = {t}" for t in TEMPERATURES])]
    if models.num_groups(config) > 1:
        rows = jax.jit(functools.partial(control_rows, config))(params, k_control)
        paths.append(save_rows(
            out("group_control.png"), np.asarray(rows),
            f"What the groups control: column 0 a prior sample (T = {CONTROL_TEMPERATURE}); "
            "the others keep its top groups\nand draw every lower group afresh",
            control_labels(config)))
    test = data.load_split(config, "test")
    pixels = np.asarray(test["image"][:NUM_RECONSTRUCTIONS])
    recon_out, _ = jax.jit(functools.partial(losses.apply_inference, config))(
        params, pixels, k_recon)
    recons = np.asarray(losses.mean_image(recon_out, config.num_mixtures))
    paths.append(save_rows(out("reconstructions.png"),
                           np.stack([pixels / 255.0, recons]),
                           "Test images and their reconstructions (posterior path)",
                           ["input", "reconstruction"]))
    return paths
