"""Per-pixel output distributions of the autoregressive models (pure functions).

Two heads, both over integer values 0..K-1 at every pixel:

- "softmax": K logits per pixel, a categorical. Works for any K (256 grey
  levels, or K codebook entries of a VQ-VAE code grid).
- "logistic_mixture": PixelCNN++'s discretized logistic mixture, 3 * M numbers
  per pixel (mixture logits, means in [0, 1] units, log-scales). Only for the
  256 ordered grey levels; the per-component probability is the VAE's
  `discretized_logistic_log_prob`, so both families discretise identically.

The samplers take one key per pixel (the callers derive it with fold_in from
the pixel's raster index) and draw all B examples of that pixel from it, so
the naive and the cached sampler consume exactly the same randomness.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.vae.losses import NUM_PIXEL_VALUES, discretized_logistic_log_prob

HEADS = ("softmax", "logistic_mixture")
MIN_LOG_SCALE = -7.0  # scale >= ~1e-3 of the [0, 1] range: no infinitely sharp bins
MEAN_OFFSET = 0.5     # a zero network output means mid-grey, not black


def output_channels(head: str, num_categories: int, num_mixtures: int) -> int:
    if head == "softmax":
        return num_categories
    if head == "logistic_mixture":
        return 3 * num_mixtures
    raise ValueError(f"unknown head {head!r}; known heads: {HEADS}")


def split_mixture(out):
    """[..., 3M] -> (mixture logits, means, log-scales), each [..., M]."""
    logits, raw_mean, raw_log_scale = jnp.split(out, 3, axis=-1)
    return logits, raw_mean + MEAN_OFFSET, jnp.maximum(raw_log_scale, MIN_LOG_SCALE)


def logistic_mixture_log_prob(out, values):
    """log P(values) under the discretized logistic mixture. out [..., 3M], values int [...]."""
    logits, mean, log_scale = split_mixture(out)
    per_component = discretized_logistic_log_prob(values[..., None], mean, log_scale)  # [..., M]
    return jax.nn.logsumexp(jax.nn.log_softmax(logits, axis=-1) + per_component, axis=-1)


def categorical_log_prob(logits, values):
    """log softmax(logits)[values]. logits [..., K], values int [...]."""
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(log_probs, values[..., None].astype(jnp.int32), axis=-1)[..., 0]


def log_prob(head: str, out, values):
    """Per-pixel log-probabilities [...] of integer values under the head's output."""
    if head == "softmax":
        return categorical_log_prob(out, values)
    if head == "logistic_mixture":
        return logistic_mixture_log_prob(out, values)
    raise ValueError(f"unknown head {head!r}; known heads: {HEADS}")


def image_nll(head: str, out, values):
    """-log p(x) of whole grids in nats: out [B, H, W, n_out], values [B, H, W] -> [B]."""
    return -jnp.sum(log_prob(head, out, values), axis=(1, 2))


def sample_logistic_mixture(key, out):
    """Exact draws from the discretized mixture: pick a component, draw a
    logistic by inverting its CDF, round to the nearest of the 256 bins (the
    end bins reach to +-infinity, so clipping is the discretisation). [B]"""
    k_component, k_uniform = jax.random.split(key)
    logits, mean, log_scale = split_mixture(out)  # [B, M] each
    component = jax.random.categorical(k_component, logits, axis=-1)[:, None]
    mean = jnp.take_along_axis(mean, component, axis=-1)[:, 0]
    log_scale = jnp.take_along_axis(log_scale, component, axis=-1)[:, 0]
    u = jax.random.uniform(k_uniform, mean.shape, minval=1e-6, maxval=1.0 - 1e-6)
    x = mean + jnp.exp(log_scale) * (jnp.log(u) - jnp.log1p(-u))
    top = NUM_PIXEL_VALUES - 1
    return jnp.clip(jnp.round(x * top), 0, top).astype(jnp.int32)


def sample_values(head: str, key, out):
    """One value per example from the head's output at one pixel, out [B, n_out] -> int [B]."""
    if head == "softmax":
        return jax.random.categorical(key, out, axis=-1).astype(jnp.int32)
    if head == "logistic_mixture":
        return sample_logistic_mixture(key, out)
    raise ValueError(f"unknown head {head!r}; known heads: {HEADS}")
