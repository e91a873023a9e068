"""Pictures of a `ddgan` run (`jaxgen eval --metrics pictures`).

    reverse_chain.png   per sample two rows: the chain's state (x_{T-1} ~ N(0, I),
                        then x_t after each step) and the generator's x0' at each step
    real_pairs.png      test images (rows) noised along one forward chain, level by
                        level: x0, x_0 ... x_{T-1}, the pairs the discriminator sees
    samples.png         an 8 x 8 grid

Imports steps/losses/sampling, never family.py.
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp

from jaxgen import data
from jaxgen.diffusion.ddgan import sampling, steps
from jaxgen.diffusion.losses import data_to_unit, pixels_to_data
from jaxgen.engine.images import save_image_grid

NUM_CHAIN_SAMPLES = 6
NUM_PAIR_IMAGES = 4


def reverse_chain_images(run, key):
    """[2 * N * (T + 1), H, W, C] in [0, 1], rows of T + 1."""
    # The chain's first state, drawn as run_chain draws it (its first key).
    x_T = jax.random.normal(jax.random.split(key, 3)[0],
                            (NUM_CHAIN_SAMPLES,) + data.image_shape(run.config))
    _, states, x0_hats = sampling.run_chain(run.config, run.state, key, NUM_CHAIN_SAMPLES,
                                            return_trajectory=True)
    rows = []
    for n in range(NUM_CHAIN_SAMPLES):
        rows.append(jnp.concatenate([x_T[n][None], states[:, n]]))
        rows.append(jnp.concatenate([-jnp.ones_like(x_T[n])[None], x0_hats[:, n]]))
    return data_to_unit(jnp.concatenate(rows)), run.config.num_timesteps + 1


def real_pair_images(config, pixels, key):
    """Each test image and its forward chain x_0 .. x_{T-1}, one chain per image,
    each level from the previous: x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps."""
    betas = steps.make_schedule(config).betas
    x = pixels_to_data(jnp.asarray(pixels))  # [N, H, W, C]
    rows, current = [x], x
    for t in range(config.num_timesteps):
        eps = jax.random.normal(jax.random.fold_in(key, t), x.shape)
        current = jnp.sqrt(1.0 - betas[t]) * current + jnp.sqrt(betas[t]) * eps
        rows.append(current)
    images = jnp.stack(rows, axis=1).reshape((-1,) + x.shape[1:])  # a row per image
    return data_to_unit(images), config.num_timesteps + 1


def write_pictures(run, key, outdir: str) -> list:
    os.makedirs(outdir, exist_ok=True)
    written = []
    images, ncols = reverse_chain_images(run, jax.random.fold_in(key, 0))
    written.append(save_image_grid(os.path.join(outdir, "reverse_chain.png"), images, ncols=ncols))
    pixels = data.load_split(run.config, "test")["image"][:NUM_PAIR_IMAGES]
    images, ncols = real_pair_images(run.config, pixels, jax.random.fold_in(key, 1))
    written.append(save_image_grid(os.path.join(outdir, "real_pairs.png"), images, ncols=ncols))
    samples = sampling.sample(run.config, run.state, jax.random.fold_in(key, 2), 64)
    written.append(save_image_grid(os.path.join(outdir, "samples.png"), samples, ncols=8))
    return written


def pictures_metric(run, key, num):
    return {"pictures": write_pictures(run, key, os.path.join(run.workdir, "pictures"))}
