"""The latent groups' probability: the posterior relative to the prior, its KL,
the soft clamp, the per-group log-densities and the KL balancing weights.

Every group is a diagonal Gaussian over [B, H_s, W_s, L] given the groups
above it: prior p(z_g | z_<g) = N(mu_p, var_p) and posterior
q(z_g | x, z_<g) = N(mu_q, var_q) with (NVAE)

    mu_q = mu_p + dmu,    log var_q = log var_p + d log var   (sigma_q = sigma_p * dsigma)

so the KL of one group, given the groups above, has the closed form

    KL = 1/2 sum( dmu^2 / var_p + exp(d log var) - 1 - d log var ),

which needs no difference of two large log-variances, and at dmu = 0,
d log var = 0 (the decoder's heads at initialisation) is exactly zero.
The hierarchy's KL(q(z | x) || p(z)) is the sum over groups of the
expectation of these terms over the groups above (tests/test_hvae.py checks
it against a Monte Carlo estimate).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.nn import distributions

SPATIAL_AXES = (1, 2, 3)  # a group's [B, H_s, W_s, L]: everything but the batch


def soft_clamp(x, bound: float):
    """bound * tanh(x / bound): ~x near 0, never beyond +-bound, smooth gradient
    (a hard clip would stop the gradient of an exploding log-variance)."""
    return bound * jnp.tanh(x / bound)


def relative_posterior(mu_p, logvar_p, dmu, dlogvar):
    """(mu_q, logvar_q) = (mu_p + dmu, logvar_p + dlogvar), elementwise."""
    return mu_p + dmu, logvar_p + dlogvar


def relative_kl(dmu, dlogvar, logvar_p):
    """KL(q || p) of the relative parameterisation, elementwise (module docstring)."""
    return 0.5 * (dmu ** 2 * jnp.exp(-logvar_p) + jnp.exp(dlogvar) - 1.0 - dlogvar)


def group_kl(group) -> jax.Array:
    """Closed-form KL of one inference group (given the groups above it), summed. [B]"""
    return jnp.sum(relative_kl(group["dmu"], group["dlogvar"], group["logvar_p"]),
                   axis=SPATIAL_AXES)


def group_log_ratio(group) -> jax.Array:
    """log q(z_g | x, z_<g) - log p(z_g | z_<g) at the group's sampled z, summed. [B]:
    a one-sample estimate of the group's KL, and its term in the importance weight."""
    mu_q, logvar_q = relative_posterior(group["mu_p"], group["logvar_p"], group["dmu"],
                                        group["dlogvar"])
    z = group["z"]
    log_q = distributions.gaussian_log_prob(z, mu_q, logvar_q)
    log_p = distributions.gaussian_log_prob(z, group["mu_p"], group["logvar_p"])
    return jnp.sum(log_q - log_p, axis=SPATIAL_AXES)


def balance_weights(kl_per_group, dims):
    """NVAE-style KL balancing coefficients [G], mean 1, no gradient.

    kl_per_group [B, G]; dims [G] latent dimensions of each group. A group
    gets a weight proportional to its batch-mean KL per latent dimension (plus
    0.01 so a collapsed group keeps a small weight): groups that carry much
    information are pressed harder towards their prior, which keeps one group
    from taking all of it while the others collapse. Used during the KL
    warm-up only (steps.kl_weights).
    """
    kl = jnp.mean(jnp.abs(kl_per_group), axis=0) + 0.01  # [G]
    per_dim = kl / jnp.asarray(dims, kl.dtype)
    return jax.lax.stop_gradient(per_dim / jnp.mean(per_dim))
