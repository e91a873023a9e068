"""The gradient-reversal layer of domain-adversarial training (Ganin et al. 2016).

Forward: the identity. Backward: the incoming gradient times -lambda. Put
between a feature extractor and a domain classifier, one minimisation then
trains the domain classifier to tell the domains apart while pushing the
features to make that impossible (the saddle point of Eq. 9 of the paper).

`lam` is an ordinary (traced) argument, so a schedule of it over training
needs no recompilation; it receives no gradient itself.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.custom_vjp
def reverse_gradient(x, lam):
    """x unchanged; d/dx of anything downstream is multiplied by -lam."""
    return x


def _forward(x, lam):
    return x, lam


def _backward(lam, g):
    # lam is a parameter of the layer, not something to learn: its cotangent is 0.
    return (jax.tree.map(lambda t: -lam * t, g), jnp.zeros_like(lam))


reverse_gradient.defvjp(_forward, _backward)


def ganin_lambda(progress, gamma: float = 10.0):
    """lambda_p = 2 / (1 + exp(-gamma p)) - 1: 0 at the start (the domain
    classifier's noisy early signal is kept away from the features), -> 1."""
    return 2.0 / (1.0 + jnp.exp(-gamma * progress)) - 1.0


def ganin_lr_factor(progress, alpha: float = 10.0, beta: float = 0.75):
    """1 / (1 + alpha p) ** beta: the paper's learning-rate annealing, as a
    factor of the peak rate (0.01 in the paper: mu_p = 0.01 / (1 + 10 p) ** 0.75)."""
    return 1.0 / (1.0 + alpha * progress) ** beta
