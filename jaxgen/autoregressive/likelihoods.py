"""The output heads of the autoregressive networks: what the numbers a network
emits at one grid position mean as a distribution over its integer value.

Two heads, both over integer values 0..K-1 at every position:

- "softmax": K logits per position, a categorical. Works for any K (256 grey
  levels, or K codebook entries of a VQ-VAE code grid).
- "logistic_mixture": PixelCNN++'s discretized logistic mixture, 3 * M numbers
  per position (mixture logits, means in [0, 1] units, log-scales). Only for
  the 256 ordered 8-bit values.

The probability itself is shared mathematics (jaxgen.nn.distributions); this
module only reads a network's raw outputs as the parameters of those
distributions. A colour image is modelled one channel value at a time
(losses.py, "Channels"), so each channel value gets its own head output:
its mixture is conditioned on everything earlier in the raster, the earlier
channels of the same pixel included, and is normalised over its 256 values.

The samplers take one key per position (the callers derive it with fold_in
from the position's raster index) and draw all B examples of that position
from it, so the naive and the cached sampler consume exactly the same
randomness.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.nn import distributions

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


def log_prob(head: str, out, values):
    """Per-position log-probabilities [...] of integer values [...] under the
    head's output out [..., n_out]."""
    if head == "softmax":
        return distributions.categorical_log_prob(out, values)
    if head == "logistic_mixture":
        return distributions.discretized_logistic_mixture_log_prob(values, *split_mixture(out))
    raise ValueError(f"unknown head {head!r}; known heads: {HEADS}")


def image_nll(head: str, out, values):
    """-log p(x) of whole grids in nats: out [B, H, W, n_out], values [B, H, W] -> [B]."""
    return -jnp.sum(log_prob(head, out, values), axis=(1, 2))


def sample_values(head: str, key, out):
    """One value per example from the head's output at one position,
    out [B, n_out] -> int32 [B]."""
    if head == "softmax":
        return jax.random.categorical(key, out, axis=-1).astype(jnp.int32)
    if head == "logistic_mixture":
        return distributions.sample_discretized_logistic_mixture(key, *split_mixture(out))
    raise ValueError(f"unknown head {head!r}; known heads: {HEADS}")
