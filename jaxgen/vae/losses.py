"""Pure loss functions of autoencoders and VAEs.

Conventions: images arrive as uint8 pixels [B, 28, 28, 1]; networks see them
as floats in [0, 1] zero-padded to 32x32; likelihoods are evaluated on the
central 28x28 only, so the padding never contributes nats. Every function
returns per-example values in nats; the callers average over the batch.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

PAD = 2  # 28 + 2 * 2 = 32
NUM_PIXEL_VALUES = 256


def to_unit_padded(pixels):
    """uint8 [B, 28, 28, C] -> float32 [B, 32, 32, C] in [0, 1]."""
    x = pixels.astype(jnp.float32) / (NUM_PIXEL_VALUES - 1)
    return jnp.pad(x, ((0, 0), (PAD, PAD), (PAD, PAD), (0, 0)))


def crop_padding(x):
    """[B, 32, 32, C] -> [B, 28, 28, C]."""
    return x[:, PAD:-PAD, PAD:-PAD, :]


def gaussian_kl_per_dim(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, 1)) per latent dimension, closed form. [B, D]"""
    return 0.5 * (jnp.exp(log_var) + mean ** 2 - 1.0 - log_var)


def reparameterize(key, mean, log_var):
    """z = mean + sigma * eps with eps ~ N(0, I) from `key`: differentiable in mean, log_var."""
    eps = jax.random.normal(key, mean.shape, mean.dtype)
    return mean + jnp.exp(0.5 * log_var) * eps


def diag_gaussian_log_prob(z, mean, log_var):
    """log N(z; mean, diag(exp(log_var))) summed over the last axis."""
    return -0.5 * jnp.sum(jnp.log(2 * jnp.pi) + log_var + (z - mean) ** 2 * jnp.exp(-log_var),
                          axis=-1)


def bernoulli_nll(logits, pixels):
    """Binary cross-entropy of the course, summed over pixels. [B]

    With grey-level targets in [0, 1] this is the cross-entropy the course
    trains with, not the log-probability of a discrete image: its values are
    not comparable with bits/dim of 8-bit likelihood models.
    """
    targets = pixels.astype(jnp.float32) / (NUM_PIXEL_VALUES - 1)
    return jnp.sum(optax.sigmoid_binary_cross_entropy(logits, targets), axis=(1, 2, 3))


def discretized_logistic_log_prob(pixels, mean, log_scale):
    """log P(pixel) of 8-bit values under a logistic discretized into 256 bins.

    pixels uint8 [...]; mean (in [0, 1] units) and log_scale of the same shape.
    Bin v covers [v - 1/2, v + 1/2] / 255, the end bins reach to -inf / +inf,
    so the 256 probabilities sum to exactly 1. For the interior bins we use
    sigmoid(a) - sigmoid(b) = sigmoid(a) * sigmoid(-b) * (1 - exp(b - a)),
    which stays accurate in the tails where both CDFs round to 0 or 1.
    """
    half_bin = 0.5 / (NUM_PIXEL_VALUES - 1)
    x = pixels.astype(jnp.float32) / (NUM_PIXEL_VALUES - 1)
    inv_scale = jnp.exp(-log_scale)
    upper = (x + half_bin - mean) * inv_scale
    lower = (x - half_bin - mean) * inv_scale
    log_cdf_upper = -jax.nn.softplus(-upper)          # log P(X <= upper edge)
    log_survival_lower = -jax.nn.softplus(lower)      # log P(X > lower edge)
    interior = log_cdf_upper + log_survival_lower + jnp.log(-jnp.expm1(-2 * half_bin * inv_scale))
    return jnp.where(pixels == 0, log_cdf_upper,
                     jnp.where(pixels == NUM_PIXEL_VALUES - 1, log_survival_lower, interior))


def reconstruction_nll(likelihood: str, decoder_out, pixels):
    """-log p(x | z) per example, from the decoder's padded output [B, 32, 32, C]."""
    out = crop_padding(decoder_out)
    if likelihood == "bernoulli":
        return bernoulli_nll(out, pixels)
    if likelihood == "logistic":
        mean = jax.nn.sigmoid(out[..., :1])
        log_scale = jnp.maximum(out[..., 1:2], -7.0)  # floor: scale >= ~1e-3 of the range
        return -jnp.sum(discretized_logistic_log_prob(pixels, mean, log_scale), axis=(1, 2, 3))
    raise ValueError(f"unknown likelihood {likelihood!r}")


def decoder_mean(decoder_out):
    """The image a decoder output stands for, [B, 28, 28, 1] in [0, 1]: channel 0
    is the Bernoulli logit or the logistic's mean logit, so both read the same."""
    out = crop_padding(decoder_out)
    return jax.nn.sigmoid(out[..., :1])


def output_channels(likelihood: str) -> int:
    return {"bernoulli": 1, "logistic": 2}[likelihood]


def iwae_log_likelihood(log_joint_fn, mean, log_var, key, num_samples: int):
    """Importance-weighted bound log (1/K) sum_k p(x, z_k) / q(z_k | x), z_k ~ q. [B]

    `log_joint_fn(z [B, D]) -> log p(x | z) + log p(z)` per example. Samples
    are taken one at a time with `lax.map`, so memory does not grow with K.
    """
    def log_weight(k):
        z = reparameterize(jax.random.fold_in(key, k), mean, log_var)
        return log_joint_fn(z) - diag_gaussian_log_prob(z, mean, log_var)

    log_weights = jax.lax.map(log_weight, jnp.arange(num_samples))  # [K, B]
    return jax.nn.logsumexp(log_weights, axis=0) - jnp.log(num_samples)


def standard_normal_log_prob(z):
    return diag_gaussian_log_prob(z, jnp.zeros_like(z), jnp.zeros_like(z))
