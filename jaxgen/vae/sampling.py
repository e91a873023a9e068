"""Sampling autoencoders and VAEs: latents from the prior (VAE) or from a
Gaussian fitted to the training codes (autoencoder), decoded to mean images.

`decode_mean` is also the decoder that latent diffusion (jaxgen.diffusion)
runs on a trained VAE's latents.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen import data
from jaxgen.nn.conditioning import class_labels
from jaxgen.vae import losses, models


def decode_mean(config, params, z, labels=None):
    """Latents [B, D] -> mean images [B, H, W, C] in [0, 1]."""
    return losses.decoder_mean(models.decode(config, params, z, labels), data.image_shape(config))


def sample_labels(config, num: int, cond=None):
    """[num] class labels of a conditional model (None: one class per grid row), else None."""
    if not config.conditional:
        return None
    return class_labels(cond, num, data.num_classes(config))


def sample_latents(config, state, key, num: int):
    """[num, D]: N(0, I) for a VAE; N(mean, var) of the training codes for an autoencoder."""
    eps = jax.random.normal(key, (num, config.latent_dim))
    if models.is_variational(config):
        return eps
    return state.extra["latent_mean"] + jnp.sqrt(state.extra["latent_var"]) * eps


def sample(config, state, key, num: int, cond=None):
    """Decoded means of sampled latents. [num, H, W, C] in [0, 1]

    cond (conditional models): None (one class per grid row), an int class, or
    [num] labels.
    """
    z = sample_latents(config, state, key, num)
    return decode_mean(config, state.params, z, sample_labels(config, num, cond))
