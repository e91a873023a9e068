"""Drawing from a trained GAN: latents through the raw or the EMA generator."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.gan.models import g_batch_stats, generate, is_points, latents, num_classes
from jaxgen.nn.conditioning import class_labels


def sample_labels(config, num: int, cond=None):
    """cgan: the [num] class labels `cond` stands for (None: one class per grid
    row, jaxgen.nn.conditioning); unconditional runs: None."""
    if not config.conditional:
        return None
    return class_labels(cond, num, num_classes(config))


# Latents whose batch-norm statistics stand in for the EMA generator's running
# averages (`ema_batch_stats="recompute"`); a fixed key, so they depend only on
# the weights, and sample i does not depend on the other samples drawn with it.
STANDING_NUM = 512
STANDING_SEED = 0


def standing_batch_stats(config, g_params, g_stats):
    """Batch-norm statistics of the generator `g_params` itself, measured on
    STANDING_NUM fixed latents (momentum 0: the batch's mean and variance).

    The running averages in the state follow the raw generator; the EMA
    generator's activations have other statistics (its weights are an average
    over ~1 / (1 - ema_decay) steps), so normalising them with the raw ones
    shifts every layer. Re-measuring is the "standing statistics" of Brock et
    al. 2019 (BigGAN)."""
    key = jax.random.key(STANDING_SEED)
    z = latents(config, key, STANDING_NUM)
    labels = sample_labels(config, STANDING_NUM) if config.conditional else None
    measuring = config.copy_and_resolve_references()
    measuring.bn_momentum = 0.0
    _, stats = generate(measuring, g_params, g_stats, z, labels, train=True)
    return stats


def sample(config, state, key, num: int, cond=None):
    """Images [num, H, W, C] in [0, 1], or points [num, 2] for 2-D datasets,
    from the raw or the EMA generator (`sample_from`)."""
    g_params = state.ema_params if config.sample_from == "ema" else state.params["g"]
    g_stats = g_batch_stats(state)
    if (config.sample_from == "ema" and g_stats is not None
            and config.ema_batch_stats == "recompute"):
        g_stats = standing_batch_stats(config, g_params, g_stats)
    x, _ = generate(config, g_params, g_stats, latents(config, key, num),
                    sample_labels(config, num, cond), train=False)
    if is_points(config):
        return x  # [num, 2]
    return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)  # tanh range -> [0, 1]
