"""Drawing from a trained GAN: latents through the raw or the EMA generator."""
from __future__ import annotations

import jax.numpy as jnp

from jaxgen.gan.models import g_batch_stats, generate, is_points, latents, num_classes
from jaxgen.nn.conditioning import class_labels


def sample_labels(config, num: int, cond=None):
    """cgan: the [num] class labels `cond` stands for (None: one class per grid
    row, jaxgen.nn.conditioning); unconditional runs: None."""
    if not config.conditional:
        return None
    return class_labels(cond, num, num_classes(config))


def sample(config, state, key, num: int, cond=None):
    """Images [num, H, W, C] in [0, 1], or points [num, 2] for 2-D datasets,
    from the raw or the EMA generator (`sample_from`)."""
    g_params = state.ema_params if config.sample_from == "ema" else state.params["g"]
    x, _ = generate(config, g_params, g_batch_stats(state), latents(config, key, num),
                    sample_labels(config, num, cond), train=False)
    if is_points(config):
        return x  # [num, 2]
    return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)  # tanh range -> [0, 1]
