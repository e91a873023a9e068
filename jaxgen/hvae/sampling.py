"""Sampling the hierarchical VAE: every group from its prior given the groups
above, at a temperature (the prior's standard deviations times T; T < 1 gives
cleaner, less varied images), decoded to the pixel mixture's mean image
(`sample_output="mean"`) or to an exact draw from it (`"draw"`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen import data
from jaxgen.hvae import losses, models
from jaxgen.nn import distributions

OUTPUTS = ("mean", "draw")


def generate(config, params, key, num: int, temperature, fixed=()):
    """(out [num, H, W, C, 3M], groups): a prior pass; the first len(fixed) groups'
    z are `fixed` (each [num, H_s, W_s, L]), the others drawn from fold_in(key, g)."""
    model = models.make_model(config, data.image_shape(config))
    return model.apply(params, key, num, temperature, tuple(fixed), method=models.HVAE.generate)


def to_images(config, out, key):
    """Decoder output -> images [B, H, W, C] in [0, 1]."""
    if config.sample_output == "draw":
        pixels = distributions.sample_discretized_logistic_mixture(
            key, *losses.split_mixture(out, config.num_mixtures))
        return pixels.astype(jnp.float32) / (distributions.NUM_PIXEL_VALUES - 1)
    return losses.mean_image(out, config.num_mixtures)


def sample(config, state, key, num: int, cond=None):
    """Prior samples at config.temperature. [num, H, W, C] in [0, 1]; unconditional."""
    del cond
    k_z, k_pixels = jax.random.split(key)
    out, _ = generate(config, state.params, k_z, num, config.temperature)
    return to_images(config, out, k_pixels)


def resample_below(config, params, key, base_key, num: int, num_fixed: int, temperature):
    """`num` images that share the top `num_fixed` groups of the prior draw made
    from `base_key` (at `temperature`) and draw every lower group afresh from `key`.
    [num, H, W, C] in [0, 1] (mixture means)."""
    _, base = generate(config, params, base_key, 1, temperature)
    fixed = [jnp.repeat(g["z"], num, axis=0) for g in base[:num_fixed]]
    out, _ = generate(config, params, key, num, temperature, fixed)
    return losses.mean_image(out, config.num_mixtures)
