"""StyleGAN-only mathematics: R1, style mixing, truncation, the tracked mean w.

The adversarial losses themselves are the shared ones (jaxgen/nn/adversarial.py);
StyleGAN2's default is the non-saturating logistic loss with R1.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.nn.adversarial import LOSSES, discriminator_loss, generator_loss  # noqa: F401


def r1_penalty(critic_fn, real):
    """R1 (Mescheder et al. 2018): E_x ||grad_x D(x)||^2 on real examples only,
    unweighted (the caller multiplies by gamma / 2). `critic_fn` maps [N, ...]
    to [N] and treats examples independently, so the gradient of the summed
    output is each example's own input gradient."""
    grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(real)  # [N, ...]
    return jnp.mean(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=1))


def mix_styles(w1, w2, cutoff, num_layers: int):
    """ws [B, L, w_dim]: layer l reads w1 where l < cutoff (coarse, early layers),
    w2 from the cutoff on (fine layers). w1, w2 [B, w_dim]; cutoff [B] ints
    (cutoff = L: no mixing)."""
    layer = jnp.arange(num_layers)  # [L]
    first = (layer[None, :] < cutoff[:, None])[..., None]  # [B, L, 1]
    return jnp.where(first, w1[:, None, :], w2[:, None, :])


def mixing_cutoffs(key, batch: int, num_layers: int, probability: float):
    """Style-mixing regularisation (Karras et al. 2019, Sec. 3.1): with
    `probability` an example switches from its first to its second w at a
    layer drawn uniformly from 1 .. L-1, otherwise at L (never). [B] int"""
    k_mix, k_cut = jax.random.split(key)
    mixed = jax.random.uniform(k_mix, (batch,)) < probability
    cut = jax.random.randint(k_cut, (batch,), 1, num_layers)
    return jnp.where(mixed, cut, num_layers)


def truncate(w, w_avg, psi):
    """The truncation trick: w_avg + psi (w - w_avg). psi 1: unchanged; 0: w_avg."""
    return w_avg + psi * (w - w_avg)


def track_w_avg(w_avg, w, decay: float):
    """The moving average of the mapping's outputs: decay * w_avg + (1 - decay) mean(w)."""
    return decay * w_avg + (1.0 - decay) * jnp.mean(w, axis=0)
