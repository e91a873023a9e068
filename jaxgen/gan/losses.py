"""Pure GAN objectives on discriminator outputs ("logits": D's raw, unsquashed output).

Conventions: `real_logits` / `fake_logits` are [N] (or [N, 1]) raw outputs of
D; every function returns the batch mean that the network in question
*minimises*. For the probabilistic losses D(x) = sigmoid(logit).

Generator losses and why the default is "non_saturating" (Goodfellow et al.
2014, Sec. 3): early in training D rejects fakes confidently, D(G(z)) -> 0.
With D = sigmoid(l) the minimax loss log(1 - D) = -softplus(l) has
d/dl = -sigmoid(l) = -D -> 0: the generator gets no gradient exactly when it
is worst. The non-saturating loss -log D = softplus(-l) has the same fixed
point but d/dl = -(1 - D) -> -1 there (tests/test_gan_losses.py checks both).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

LOSSES = ("minimax", "non_saturating", "least_squares", "hinge", "wasserstein")


def discriminator_loss(kind: str, real_logits, fake_logits):
    """What D minimises, given its outputs on real and on generated samples."""
    real, fake = jnp.ravel(real_logits), jnp.ravel(fake_logits)
    if kind in ("minimax", "non_saturating"):
        # Binary cross-entropy, real -> 1, fake -> 0: -log D(x) - log(1 - D(G(z))).
        return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
    if kind == "least_squares":
        # LSGAN (Mao et al. 2017) with targets real 1, fake 0.
        return 0.5 * jnp.mean((real - 1.0) ** 2) + 0.5 * jnp.mean(fake ** 2)
    if kind == "hinge":
        return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))
    if kind == "wasserstein":
        # -(E[D(x)] - E[D(G(z))]): the critic maximises the dual Wasserstein estimate.
        return jnp.mean(fake) - jnp.mean(real)
    raise ValueError(f"unknown GAN loss {kind!r}; choose from {LOSSES}")


def generator_loss(kind: str, fake_logits):
    """What G minimises, given D's outputs on its samples."""
    fake = jnp.ravel(fake_logits)
    if kind == "minimax":
        return jnp.mean(-jax.nn.softplus(fake))      # E log(1 - D(G(z)))
    if kind == "non_saturating":
        return jnp.mean(jax.nn.softplus(-fake))      # E -log D(G(z))
    if kind == "least_squares":
        return 0.5 * jnp.mean((fake - 1.0) ** 2)
    if kind in ("hinge", "wasserstein"):
        return -jnp.mean(fake)
    raise ValueError(f"unknown GAN loss {kind!r}; choose from {LOSSES}")


def interpolate(real, fake, key):
    """x_hat = eps * real + (1 - eps) * fake, one eps ~ U[0, 1] per example. [N, ...]"""
    eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
    return eps * real + (1.0 - eps) * fake


def gradient_penalty(critic_fn, real, fake, key):
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x D(x_hat)||_2 - 1)^2] on random
    interpolates x_hat of real and fake examples; `key` draws the mixing weights.

    `critic_fn` maps a batch [N, ...] to outputs [N] (or [N, 1]) and must treat
    examples independently (no batch norm), so the gradient of the summed
    output is each example's own input gradient.
    """
    x_hat = interpolate(real, fake, key)
    grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(x_hat)  # [N, ...]
    sq_norm = jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=1)  # [N]
    # The tiny floor keeps the gradient of sqrt finite where a gradient is exactly 0.
    return jnp.mean((jnp.sqrt(sq_norm + 1e-12) - 1.0) ** 2)


def clip_weights(params, clip_value: float):
    """WGAN's Lipschitz constraint (Arjovsky et al. 2017): every parameter in [-c, c]."""
    return jax.tree.map(lambda p: jnp.clip(p, -clip_value, clip_value), params)

