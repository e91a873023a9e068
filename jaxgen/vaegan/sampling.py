"""Sampling and reconstructing with a VAE-GAN: decoder images of prior or posterior latents."""
from __future__ import annotations

import jax

from jaxgen.vaegan import models


def sample(config, state, key, num: int, cond=None):
    """Decoded prior latents z ~ N(0, I). [num, H, W, C] in [0, 1]"""
    del cond  # unconditional
    z = jax.random.normal(key, (num, config.latent_dim))
    return models.decode(config, state.params["dec"], z)


def reconstruct(config, params, pixels):
    """uint8 images [B, H, W, C] -> the decoded posterior means [B, H, W, C] in [0, 1]."""
    mean, _ = models.encode(config, params["enc"], models.network_input(config, pixels))
    return models.decode(config, params["dec"], mean)
