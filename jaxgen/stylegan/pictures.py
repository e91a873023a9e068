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


def truncation_rows(config, state, key, ncols: int = GRID_COLUMNS):
    """[len(TRUNCATIONS) * ncols, H, W, C]: the same latents and noise, one row per psi."""
    k_z, k_noise = jax.random.split(key)
    z = latents(config, k_z, ncols)
    rows = [images_from_styles(config, state,
                               broadcast_styles(config, truncated_styles(config, state, z, psi)),
                               k_noise) for psi in TRUNCATIONS]
    return jnp.concatenate(rows)


def style_mixing_grid(config, state, key, crossover: int, n: int = MIX_SIZE):
    """[(n + 1)^2, H, W, C]: the first row holds the column sources B_j, the first
    column the row sources A_i (top-left blank); cell (i, j) takes the coarse
    layers (< crossover) from A_i and the fine ones from B_j, at config.truncation."""
    k_a, k_b, k_noise = jax.random.split(key, 3)
    layers = style_layers(config)
    w_a = truncated_styles(config, state, latents(config, k_a, n), config.truncation)
    w_b = truncated_styles(config, state, latents(config, k_b, n), config.truncation)
    # One noise image per layer for every cell (each cell is drawn as a batch
    # of one with the same key), so only the styles differ across the grid.
    def draw(ws):  # [B, L, w_dim] -> [B, H, W, C]
        return jax.vmap(lambda one: images_from_styles(config, state, one[None], k_noise)[0])(ws)

    a_img = draw(broadcast_styles(config, w_a))
    b_img = draw(broadcast_styles(config, w_b))
    w1 = jnp.repeat(w_a, n, axis=0)  # [n * n, w_dim]: row i, column j at i * n + j
    w2 = jnp.tile(w_b, (n, 1))
    cut = jnp.full((n * n,), crossover)
    mixed = draw(losses.mix_styles(w1, w2, cut, layers))
    blank = jnp.zeros_like(a_img[:1])
    rows = [jnp.concatenate([blank, b_img])]
    for i in range(n):
        rows.append(jnp.concatenate([a_img[i:i + 1], mixed[i * n:(i + 1) * n]]))
    return jnp.concatenate(rows)


def pictures(run, key, outdir: str) -> list:
    os.makedirs(outdir, exist_ok=True)
    sources = ["raw"] + (["ema"] if run.config.ema_decay > 0 else [])
    written = []
    k_grid, k_trunc, k_mix = jax.random.split(key, 3)
    for source in sources:  # the same latents for both, so the grids compare
        config = _config(run, sample_from=source)
        images = np.asarray(jax.jit(lambda s, k: sample(config, s, k, GRID_COLUMNS ** 2))(
            run.state, k_grid))
        written.append(save_image_grid(os.path.join(outdir, f"samples_{source}.png"), images,
                                       ncols=GRID_COLUMNS))
    config = run.config
    strip = jax.jit(lambda s, k: truncation_rows(config, s, k))(run.state, k_trunc)
    written.append(save_image_grid(os.path.join(outdir, "truncation.png"), np.asarray(strip),
                                   ncols=GRID_COLUMNS))
    crossover = style_layers(config) // 2
    grid = jax.jit(lambda s, k: style_mixing_grid(config, s, k, crossover))(run.state, k_mix)
    written.append(save_image_grid(os.path.join(outdir, "style_mixing.png"), np.asarray(grid),
                                   ncols=MIX_SIZE + 1))
    return written


def pictures_metric(run, key, num):
    del num
    return {"pictures": pictures(run, key, os.path.join(run.workdir, "pictures"))}
