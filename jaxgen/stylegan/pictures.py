"""StyleGAN pictures: sample grids (raw and EMA weights), a truncation strip and
the style-mixing grid."""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.engine.images import save_image_grid
from jaxgen.stylegan import losses
from jaxgen.stylegan.sampling import (broadcast_styles, images_from_styles, sample,
                                      truncated_styles)
from jaxgen.stylegan.steps import latents, style_layers

GRID_COLUMNS = 8
TRUNCATIONS = (1.0, 0.7, 0.5, 0.0)  # rows of the truncation strip
MIX_SIZE = 5                         # sources per side of the style-mixing grid


def _config(run, **values):
    config = run.config.copy_and_resolve_references()
    for key, value in values.items():
        config[key] = value
    return config


def draw_with_shared_noise(config, state, ws, noise_key):
    """ws [B, L, w_dim] -> images [B, H, W, C] in [0, 1], every image drawn as a
    batch of one with the same key: one noise image per layer for all of them,
    so pictures that compare styles differ in styles only."""
    return jax.vmap(lambda one: images_from_styles(config, state, one[None], noise_key)[0])(ws)


def truncation_styles(config, state, key, ncols: int = GRID_COLUMNS):
    """ws [len(TRUNCATIONS) * ncols, L, w_dim]: the same latents, one row per psi."""
    z = latents(config, key, ncols)
    return jnp.concatenate([broadcast_styles(config, truncated_styles(config, state, z, psi))
                            for psi in TRUNCATIONS])


def style_mixing_styles(config, state, key, crossover: int, n: int = MIX_SIZE):
    """ws [(n + 1)^2, L, w_dim] of the style-mixing grid, row by row: the first row
    holds the column sources B_j after a corner that the caller blanks, the first column the row sources A_i; cell (i, j) takes the
    coarse layers (< crossover) from A_i and the fine ones from B_j, at
    config.truncation."""
    k_a, k_b = jax.random.split(key)
    layers = style_layers(config)
    w_a = truncated_styles(config, state, latents(config, k_a, n), config.truncation)
    w_b = truncated_styles(config, state, latents(config, k_b, n), config.truncation)
    # Row 0: the corner (blanked later) and B_j; row i + 1: A_i, then its cells.
    w1 = jnp.concatenate([w_b[:1], w_b] + [jnp.repeat(w_a[i:i + 1], n + 1, axis=0)
                                          for i in range(n)])  # coarse source of each cell
    w2 = jnp.concatenate([w_b[:1], w_b] + [jnp.concatenate([w_a[i:i + 1], w_b])
                                          for i in range(n)])  # fine source of each cell
    count = (n + 1) ** 2
    # Row 0 and column 0 show the sources unmixed (cutoff L); the cells mix.
    index = jnp.arange(count)
    unmixed = (index < n + 1) | (index % (n + 1) == 0)
    cutoff = jnp.where(unmixed, layers, crossover)
    return losses.mix_styles(w1, w2, cutoff, layers)


def picture_arrays(config, state, key):
    """Everything `pictures` draws, in one jitted call: {"samples_raw", ("samples_ema"),
    "truncation", "style_mixing"}, images in [0, 1]."""
    k_grid, k_trunc, k_mix, k_noise = jax.random.split(key, 4)
    out = {}
    for source in ["raw"] + (["ema"] if config.ema_decay > 0 else []):
        sub = config.copy_and_resolve_references()
        sub.sample_from = source  # the same latents for both, so the grids compare
        out[f"samples_{source}"] = sample(sub, state, k_grid, GRID_COLUMNS ** 2)
    strip = truncation_styles(config, state, k_trunc)
    grid = style_mixing_styles(config, state, k_mix, style_layers(config) // 2)
    images = draw_with_shared_noise(config, state, jnp.concatenate([strip, grid]), k_noise)
    out["truncation"] = images[:strip.shape[0]]
    out["style_mixing"] = images[strip.shape[0]:].at[0].set(0.0)  # the blank corner
    return out


def pictures(run, key, outdir: str) -> list:
    """Sample grids (raw and EMA weights), the truncation strip (rows psi = 1, 0.7,
    0.5, 0) and the style-mixing grid (crossover at half the layers)."""
    os.makedirs(outdir, exist_ok=True)
    config = run.config
    arrays = jax.device_get(jax.jit(lambda s, k: picture_arrays(config, s, k))(run.state, key))
    ncols = {"truncation": GRID_COLUMNS, "style_mixing": MIX_SIZE + 1}
    return [save_image_grid(os.path.join(outdir, f"{name}.png"), np.asarray(images),
                            ncols=ncols.get(name, GRID_COLUMNS))
            for name, images in arrays.items()]


def pictures_metric(run, key, num):
    del num
    return {"pictures": pictures(run, key, os.path.join(run.workdir, "pictures"))}
