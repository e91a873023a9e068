"""Drawing from a trained StyleGAN: z -> w -> truncation -> the same w in every
layer -> synthesis with fresh per-layer noise, from the raw or EMA generator."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.stylegan import losses
from jaxgen.stylegan.steps import latents, map_latents, style_layers, synthesize


def generator_params(config, state):
    return state.ema_params if config.sample_from == "ema" else state.params["g"]


def broadcast_styles(config, w):
    """w [B, w_dim] -> ws [B, L, w_dim]: one style for every layer."""
    return jnp.broadcast_to(w[:, None], (w.shape[0], style_layers(config), w.shape[-1]))


def truncated_styles(config, state, z, psi):
    """w's of latents z [B, latent] truncated towards the tracked mean by psi. [B, w_dim]"""
    w = map_latents(config, generator_params(config, state), z)
    return losses.truncate(w, state.extra["w_avg"], psi)


def to_unit_range(x):
    return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)  # model space [-1, 1] -> [0, 1]


def images_from_styles(config, state, ws, noise_key):
    """ws [B, L, w_dim] -> images [B, H, W, C] in [0, 1]."""
    return to_unit_range(synthesize(config, generator_params(config, state), ws, noise_key))


def sample(config, state, key, num: int, cond=None):
    """Images [num, H, W, C] in [0, 1] at truncation psi = config.truncation."""
    del cond  # unconditional
    k_z, k_noise = jax.random.split(key)
    w = truncated_styles(config, state, latents(config, k_z, num), config.truncation)
    return images_from_styles(config, state, broadcast_styles(config, w), k_noise)
