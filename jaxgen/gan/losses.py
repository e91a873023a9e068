"""GAN-only objectives: WGAN-GP's penalty, the R1 penalty and WGAN's weight clipping.

The adversarial losses (minimax, non-saturating, least-squares, hinge,
Wasserstein; LOSSES, discriminator_loss, generator_loss) are shared with the
image translators and live in jaxgen/nn/adversarial.py, which also says why
"non_saturating" is the probabilistic default; they are re-exported here so
`losses.discriminator_loss` reads as before in the GAN's steps.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

# The adversarial losses are shared with the translators (jaxgen/nn/adversarial.py).
from jaxgen.nn.adversarial import LOSSES, discriminator_loss, generator_loss  # noqa: F401


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


def r1_penalty(critic_fn, real):
    """R1 (Mescheder et al. 2018): E_real ||grad_x D(x)||_2^2 on the real examples
    themselves; the objective adds (gamma / 2) times it. It pushes D's gradient
    to zero on the data, which makes the non-saturating GAN converge locally
    where the unregularised one oscillates. `critic_fn` as for gradient_penalty
    (examples treated independently)."""
    grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(real)  # [N, ...]
    return jnp.mean(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=1))


def clip_weights(params, clip_value: float):
    """WGAN's Lipschitz constraint (Arjovsky et al. 2017): every parameter in [-c, c]."""
    return jax.tree.map(lambda p: jnp.clip(p, -clip_value, clip_value), params)

