"""Likelihood units and divergences between simple distributions, in JAX.

Discrete distributions are probability vectors along the last axis (any
leading batch axes); 0 * log 0 counts as 0. Diagonal Gaussians are given by
their mean and log-variance along the last axis. All values are in nats.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy


def bits_per_dim(nats, num_dims: int):
    """Negative log-likelihood in nats per example -> bits per dimension."""
    return nats / (num_dims * math.log(2.0))


def kl_discrete(p, q):
    """KL(p || q) = sum p log(p / q) over the last axis. [...]

    Infinite where q = 0 < p, as the divergence is.
    """
    p, q = jnp.asarray(p), jnp.asarray(q)
    return jnp.sum(xlogy(p, p) - xlogy(p, q), axis=-1)


def js_discrete(p, q):
    """Jensen-Shannon divergence, in [0, log 2]: mean KL of p and q to their midpoint. [...]"""
    p, q = jnp.asarray(p), jnp.asarray(q)
    mid = 0.5 * (p + q)
    return 0.5 * kl_discrete(p, mid) + 0.5 * kl_discrete(q, mid)


def kl_diag_gaussians(mean1, log_var1, mean2, log_var2):
    """KL(N(mean1, diag e^log_var1) || N(mean2, diag e^log_var2)), closed form. [...]"""
    var_ratio = jnp.exp(log_var1 - log_var2)
    mahalanobis = (mean1 - mean2) ** 2 * jnp.exp(-log_var2)
    return 0.5 * jnp.sum(var_ratio + mahalanobis - 1.0 - (log_var1 - log_var2), axis=-1)


def js_diag_gaussians(mean1, log_var1, mean2, log_var2, key, num_samples: int = 1000):
    """Jensen-Shannon divergence of two diagonal Gaussians, Monte-Carlo. [...]

    The midpoint of two Gaussians is a mixture, not a Gaussian, so JS has no
    closed form: JS = 1/2 E_p[log p - log m] + 1/2 E_q[log q - log m] with
    m = (p + q) / 2, each expectation over `num_samples` draws from `key`.
    """
    def log_prob(x, mean, log_var):  # x [S, ..., D] -> [S, ...]
        return -0.5 * jnp.sum(jnp.log(2 * jnp.pi) + log_var + (x - mean) ** 2 * jnp.exp(-log_var),
                              axis=-1)

    def half_term(k, mean, log_var):
        shape = (num_samples,) + jnp.broadcast_shapes(mean.shape, log_var.shape)
        x = mean + jnp.exp(0.5 * log_var) * jax.random.normal(k, shape)
        log_p1, log_p2 = log_prob(x, mean1, log_var1), log_prob(x, mean2, log_var2)
        log_mid = jnp.logaddexp(log_p1, log_p2) - jnp.log(2.0)
        return jnp.mean(log_prob(x, mean, log_var) - log_mid, axis=0)

    k1, k2 = jax.random.split(key)
    mean1, log_var1, mean2, log_var2 = map(jnp.asarray, (mean1, log_var1, mean2, log_var2))
    return 0.5 * half_term(k1, mean1, log_var1) + 0.5 * half_term(k2, mean2, log_var2)
