"""VAE-GAN pictures: prior samples, and test images above their reconstructions."""
from __future__ import annotations

import functools
import os

import jax
import numpy as np

from jaxgen import data
from jaxgen.engine.images import save_image_grid
from jaxgen.vaegan import sampling

SAMPLE_SIDE = 8          # samples.png: 8 x 8
NUM_RECONSTRUCTIONS = 16  # reconstructions.png: one row of inputs, one of reconstructions


def reconstruction_rows(config, params, pixels) -> np.ndarray:
    """uint8 [N, H, W, C] -> [2N, H, W, C] in [0, 1]: the N inputs, then their reconstructions."""
    recons = jax.jit(functools.partial(sampling.reconstruct, config))(params, pixels)
    return np.concatenate([pixels / 255.0, np.asarray(recons)])


def pictures(run, key, outdir: str) -> list:
    os.makedirs(outdir, exist_ok=True)
    samples = np.asarray(run.sample(key, SAMPLE_SIDE * SAMPLE_SIDE))  # [64, H, W, C]
    written = [save_image_grid(os.path.join(outdir, "samples.png"), samples, ncols=SAMPLE_SIDE)]
    test = data.load_split(run.config, "test")
    pixels = np.asarray(test["image"][:NUM_RECONSTRUCTIONS])
    rows = reconstruction_rows(run.config, run.state.params, pixels)
    written.append(save_image_grid(os.path.join(outdir, "reconstructions.png"), rows,
                                   ncols=len(pixels)))
    return written


def pictures_metric(run, key, num):
    del num
    return {"pictures": pictures(run, key, os.path.join(run.workdir, "pictures"))}
