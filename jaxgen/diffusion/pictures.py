"""Pictures of a diffusion run (`jaxgen eval --metrics pictures`).

    forward_process.png   test images (rows) noised by q(x_t | x_0) at increasing t
    reverse_chain.png     the chain's state x_t (top half of each row pair) and its
                          x0 prediction (bottom) at evenly spaced steps, per sample
    guidance_w{w}.png     conditional model: one row per class, at several w

Imports the family's steps and samplers, never family.py.
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen import data
from jaxgen.diffusion import losses, parts, sampling, schedules
from jaxgen.engine import config as config_lib
from jaxgen.engine.images import save_image_grid
from jaxgen.nn.conditioning import class_labels

FORWARD_LEVELS = (0, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 999)
NUM_CHAIN_SAMPLES = 6
NUM_CHAIN_COLUMNS = 11
GUIDANCE_SCALES = (0.0, 1.0, 3.0)
PER_CLASS = 8


def forward_process_images(config, pixels, key):
    """[N, H, W, C] uint8 -> [N * L, H, W, C] in [0, 1]: each image at each level."""
    schedule = parts.make_schedule(config)
    T = config.num_timesteps
    levels = np.unique(np.clip(np.round(np.array(FORWARD_LEVELS) * (T - 1) / 999), 0, T - 1)
                       .astype(np.int32))
    x0 = losses.pixels_to_data(jnp.asarray(pixels))
    rows = []
    for i, x in enumerate(x0):
        eps = jax.random.normal(jax.random.fold_in(key, i), x.shape)  # one noise per image
        xs = jnp.broadcast_to(x, (len(levels),) + x.shape)
        rows.append(schedules.q_sample(schedule, xs, jnp.asarray(levels), eps[None]))
    return losses.data_to_unit(jnp.concatenate(rows)), levels


def reverse_chain_images(run, key):
    """States and x0 predictions along the chain, rows of NUM_CHAIN_COLUMNS. [2 * N * C, ...]"""
    states, x0_hats = sampling.run_chain(run.config, run.state, key, NUM_CHAIN_SAMPLES,
                                     return_trajectory=True)[1:]
    columns = np.unique(np.round(np.linspace(0, len(states) - 1, NUM_CHAIN_COLUMNS)).astype(int))
    rows = []
    for n in range(NUM_CHAIN_SAMPLES):
        rows.append(states[columns, n])
        rows.append(x0_hats[columns, n])
    return losses.data_to_unit(jnp.concatenate(rows)), len(columns)


def write_pictures(run, key, outdir: str) -> list:
    os.makedirs(outdir, exist_ok=True)
    config = run.config
    written = []
    if parts.data_kind(config) == "image":
        pixels = data.load_split(config, "test")["image"][:4]
        images, levels = forward_process_images(config, pixels, jax.random.fold_in(key, 0))
        written.append(save_image_grid(os.path.join(outdir, "forward_process.png"), images,
                                       ncols=len(levels)))
        images, ncols = reverse_chain_images(run, jax.random.fold_in(key, 1))
        written.append(save_image_grid(os.path.join(outdir, "reverse_chain.png"), images,
                                       ncols=ncols))
    if config.conditional and config.label_dropout > 0:
        num_classes = parts.num_classes(config)
        labels = class_labels(None, num_classes * PER_CLASS, num_classes)  # a row per class
        for w in GUIDANCE_SCALES:
            guided = config_lib.apply_overrides(config, {"guidance": w}, from_string=False)
            images = sampling.sample(guided, run.state, jax.random.fold_in(key, 2), len(labels),
                                 cond=labels)
            written.append(save_image_grid(os.path.join(outdir, f"guidance_w{w:g}.png"),
                                           images, ncols=PER_CLASS))
    return written
