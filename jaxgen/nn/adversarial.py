"""Adversarial objectives on discriminator outputs, shared by every family
that trains a discriminator (the GANs, the image translators).

Conventions: `real_logits` / `fake_logits` are raw, unsquashed outputs of D
of any shape (a PatchGAN's [N, h, w, 1] map as well as [N] or [N, 1]); every
function returns the mean over all outputs of what the network in question
*minimises*. For the probabilistic losses D(x) = sigmoid(logit).

Generator losses and why "non_saturating" is the probabilistic default
(Goodfellow et al. 2014, Sec. 3): early in training D rejects fakes
confidently, D(G(z)) -> 0. With D = sigmoid(l) the minimax loss
log(1 - D) = -softplus(l) has d/dl = -sigmoid(l) = -D -> 0: the generator
gets no gradient exactly when it is worst. The non-saturating loss
-log D = softplus(-l) has the same fixed point but d/dl = -(1 - D) -> -1
there (tests/test_gan_losses.py checks both).
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
