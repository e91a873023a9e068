"""Log-densities, KL divergences, reparameterization and the IWAE bound: the
probability shared by every family (DESIGN.md, "Training parts").

Conventions: every function returns nats; `*_log_prob` functions are
elementwise unless their name or docstring says they sum (the callers choose
the axes to reduce); diagonal Gaussians are given by mean and log-variance.
8-bit pixels are integer values 0..255 (any integer dtype).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

NUM_PIXEL_VALUES = 256
LOG_2PI = float(jnp.log(2.0 * jnp.pi))


# --------------------------------------------------------------------- Gaussians


def reparameterize(key, mean, log_var):
    """z = mean + sigma * eps with eps ~ N(0, I) from `key`: differentiable in mean, log_var."""
    eps = jax.random.normal(key, mean.shape, mean.dtype)
    return mean + jnp.exp(0.5 * log_var) * eps


def gaussian_log_prob(x, mean, log_var):
    """log N(x; mean, exp(log_var)), elementwise."""
    return -0.5 * (LOG_2PI + log_var + (x - mean) ** 2 * jnp.exp(-log_var))


def diag_gaussian_log_prob(x, mean, log_var):
    """log N(x; mean, diag(exp(log_var))) summed over the last axis. [...]"""
    return jnp.sum(gaussian_log_prob(x, mean, log_var), axis=-1)


def standard_normal_log_prob(x):
    """log N(x; 0, I) summed over the last axis. [...]"""
    return jnp.sum(-0.5 * (LOG_2PI + x ** 2), axis=-1)


def gaussian_kl(mean1, log_var1, mean2=0.0, log_var2=0.0):
    """KL(N(mean1, e^log_var1) || N(mean2, e^log_var2)), elementwise, closed form.

    The defaults give the KL to the standard normal, the VAE's prior term.
    """
    log_ratio = log_var1 - log_var2
    return 0.5 * (jnp.exp(log_ratio) + (mean1 - mean2) ** 2 * jnp.exp(-log_var2)
                  - 1.0 - log_ratio)


def diag_gaussian_kl(mean1, log_var1, mean2=0.0, log_var2=0.0):
    """KL of two diagonal Gaussians, summed over the last axis. [...]"""
    return jnp.sum(gaussian_kl(mean1, log_var1, mean2, log_var2), axis=-1)


# --------------------------------------------------------------------- pixels


def bernoulli_log_prob(logits, targets):
    """log Bernoulli(targets; sigmoid(logits)), elementwise; targets in [0, 1].

    With grey levels as targets this is the course's cross-entropy, not the
    probability of a discrete image: not comparable with bits/dim.
    """
    return -optax.sigmoid_binary_cross_entropy(logits, targets)


def discretized_logistic_log_prob(pixels, mean, log_scale):
    """log P(pixel) of 8-bit values under a logistic discretized into 256 bins.

    pixels int [...]; mean (in [0, 1] units) and log_scale of the same shape.
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


def discretized_logistic_mixture_log_prob(pixels, logits, means, log_scales):
    """log P(pixel) under a mixture of discretized logistics (PixelCNN++).

    pixels int [...]; logits, means, log_scales [..., M] (M components).
    """
    per_component = discretized_logistic_log_prob(pixels[..., None], means, log_scales)
    return jax.nn.logsumexp(jax.nn.log_softmax(logits, axis=-1) + per_component, axis=-1)


def sample_discretized_logistic_mixture(key, logits, means, log_scales):
    """Exact draws from the discretized mixture, one per leading index: pick a
    component, invert a logistic's CDF, round to the nearest of the 256 bins
    (the end bins reach to +-infinity, so clipping is the discretisation).

    logits, means, log_scales [..., M] -> int32 [...]
    """
    k_component, k_uniform = jax.random.split(key)
    component = jax.random.categorical(k_component, logits, axis=-1)[..., None]
    mean = jnp.take_along_axis(means, component, axis=-1)[..., 0]
    log_scale = jnp.take_along_axis(log_scales, component, axis=-1)[..., 0]
    u = jax.random.uniform(k_uniform, mean.shape, minval=1e-6, maxval=1.0 - 1e-6)
    x = mean + jnp.exp(log_scale) * (jnp.log(u) - jnp.log1p(-u))
    top = NUM_PIXEL_VALUES - 1
    return jnp.clip(jnp.round(x * top), 0, top).astype(jnp.int32)


def categorical_log_prob(logits, values):
    """log softmax(logits)[values]. logits [..., K], values int [...] -> [...]"""
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(log_probs, values[..., None].astype(jnp.int32), axis=-1)[..., 0]


# --------------------------------------------------------------------- bounds


def iwae_log_likelihood(log_joint_fn, mean, log_var, key, num_samples: int,
                        chunk_size: int = 1):
    """Importance-weighted bound log (1/K) sum_k p(x, z_k) / q(z_k | x), z_k ~ q. [B]

    `log_joint_fn(z [B, D]) -> log p(x | z) + log p(z)` per example; q is the
    diagonal Gaussian (mean, log_var) [B, D]. Sample k uses fold_in(key, k),
    so the bound does not depend on `chunk_size`: the K samples are taken
    `chunk_size` at a time with `lax.map`, and memory grows with the chunk,
    not with K (K = 1000 fits).
    """
    def log_weight(sample_key):  # -> [B]
        z = reparameterize(sample_key, mean, log_var)
        return log_joint_fn(z) - diag_gaussian_log_prob(z, mean, log_var)

    return importance_weighted_bound(log_weight, key, num_samples, chunk_size)


def importance_weighted_bound(log_weight_fn, key, num_samples: int, chunk_size: int = 1):
    """log (1/K) sum_k exp(log_weight_fn(fold_in(key, k))), k < K. [B]

    `log_weight_fn(key) -> [B]` is log p(x, z) - log q(z | x) at one draw z ~ q
    made from `key` (any q: one Gaussian, a hierarchy of groups). The K draws
    run `chunk_size` at a time with `lax.map`, so memory grows with the
    chunk, not with K, and the bound does not depend on `chunk_size`.
    """
    def log_weight(k):  # one sample index -> [B]
        return log_weight_fn(jax.random.fold_in(key, k))

    indices = jnp.arange(num_samples)
    if chunk_size > 1:
        log_weights = jax.lax.map(log_weight, indices, batch_size=chunk_size)  # [K, B]
    else:
        log_weights = jax.lax.map(log_weight, indices)  # [K, B]
    return jax.nn.logsumexp(log_weights, axis=0) - jnp.log(num_samples)
