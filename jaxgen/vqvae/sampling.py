"""Sampling the VQ-VAE: a code grid from the run's prior, then one decoder pass.

Stage 1 draws every code independently from the smoothed training usage
frequencies (the unigram prior); stage 2 draws the grid in raster order from
the PixelCNN prior (jaxgen.autoregressive.sampling, `sampler` naive or cached).
"""
from __future__ import annotations

from jaxgen import data
from jaxgen.autoregressive import sampling as ar_sampling
from jaxgen.vqvae import losses
from jaxgen.vqvae.models import code_grid, make_prior
from jaxgen.vqvae.steps import decode_codes, is_prior_stage, vq_parts


def sample_codes(config, state, key, num: int):
    """Code grids int [num, h, w] from the run's prior."""
    height, width = code_grid(config)
    if is_prior_stage(config):
        return ar_sampling.sample_grid(make_prior(config), state.params, key, num, height, width,
                                       None, config.sampler)
    return losses.sample_unigram(key, vq_parts(config, state)["code_usage"], num, (height, width))


def sample(config, state, key, num: int, cond=None):
    """Codes from the prior, decoded to the logistic means. [num, H, W, C] in [0, 1]"""
    del cond  # unconditional
    codes = sample_codes(config, state, key, num)
    out = decode_codes(config, vq_parts(config, state), codes)
    return losses.decoder_mean(out, data.image_shape(config))


def network_evals(config) -> int:
    """Sequential network evaluations per sample, the decoder's one pass not counted
    for the prior. Stage 1: 1 (the decoder; the unigram codes need no network).
    Stage 2: h * w, one per code position, for both samplers: the naive one runs
    the whole PixelCNN on the whole grid at every position; the cached one runs
    every layer at that one position (and, per row, the part that depends only
    on the rows above), so its h * w steps add up to about one full pass of
    FLOPs, but they are still h * w sequential network calls."""
    if not is_prior_stage(config):
        return 1
    height, width = code_grid(config)
    return height * width
