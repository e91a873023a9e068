"""Spectral normalisation of the discriminator (Miyato et al. 2018), as pure functions.

Each weight matrix W of D is used as W / sigma(W), sigma its largest singular
value, so every layer is 1-Lipschitz (LeakyReLU is too) and D's gradients
cannot blow up. sigma is estimated by power iteration with a persistent unit
vector u per weight, one iteration per discriminator update, as in the paper:

    u <- normalise(W^T normalise(W u))       (no gradient through u)
    sigma(W; u) = ||W u||

||W u|| with u held fixed equals v^T W u with v = W u / ||W u||, the paper's
estimate, and its gradient in W is v u^T, the paper's gradient.

Which weights: every leaf named "kernel" with 2 or more axes; a convolution
kernel [k, k, C_in, C_out] is the matrix [k * k * C_in, C_out] (the paper's
reshape). Biases and a projection discriminator's class embedding are left
alone. The vectors live outside the parameters (state.extra["d_spectral"]),
so the optimizer never sees them, and the normalisation is applied to the
parameters before the unchanged network runs (`normalise`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

EPS = 1e-12


def _name(path) -> str:
    """"Conv_0/kernel" for the key path of a parameter leaf."""
    return "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path)


def _is_weight(path, leaf) -> bool:
    return _name(path).split("/")[-1] == "kernel" and jnp.ndim(leaf) >= 2


def as_matrix(kernel):
    """[..., C_out] -> [prod(...), C_out]."""
    return kernel.reshape(-1, kernel.shape[-1])


def _unit(x):
    return x / (jnp.linalg.norm(x) + EPS)


def weights(params) -> dict:
    """{name: kernel} of the weights that are normalised."""
    return {_name(path): leaf for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
            if _is_weight(path, leaf)}


def init_vectors(params, key) -> dict:
    """{name: random unit vector u [C_out]}, one per normalised weight."""
    named = weights(params)
    keys = jax.random.split(key, max(len(named), 1))
    return {name: _unit(jax.random.normal(k, (w.shape[-1],)))
            for k, (name, w) in zip(keys, sorted(named.items()))}


def power_step(params, vectors: dict) -> dict:
    """One power iteration for every weight: the refreshed vectors (no gradient)."""
    named = weights(params)
    refreshed = {}
    for name, u in vectors.items():
        m = jax.lax.stop_gradient(as_matrix(named[name]))  # [I, O]
        refreshed[name] = _unit(m.T @ _unit(m @ u))  # [O]
    return refreshed


def sigma(kernel, u):
    """The estimate ||W u|| of W's largest singular value (differentiable in W)."""
    return jnp.linalg.norm(as_matrix(kernel) @ jax.lax.stop_gradient(u))


def normalise(params, vectors):
    """params with every weight W replaced by W / sigma(W; u); params as they
    are when vectors is None (no spectral normalisation)."""
    if vectors is None:
        return params

    def one(path, w):
        name = _name(path)
        return w / sigma(w, vectors[name]) if name in vectors else w
    return jax.tree_util.tree_map_with_path(one, params)
