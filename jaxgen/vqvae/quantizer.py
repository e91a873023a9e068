"""Vector quantization as pure functions (van den Oord et al. 2017, "Neural
Discrete Representation Learning").

A codebook holds K vectors e_k of dimension D. The encoder output z_e at each
grid position is replaced by its nearest code,

    k* = argmin_k ||z_e - e_k||^2,    z_q = e_{k*},

which has no useful derivative, so the decoder's gradient at z_q is copied
unchanged to z_e (the straight-through estimator). Two squared distances give
the codebook and the encoder their training signals:

    codebook loss   ||sg(z_e) - e||^2      moves the codes to the encoder outputs
    commitment      ||z_e - sg(e)||^2      keeps the encoder near its codes

The codebook loss can be replaced by exponential moving averages of the
assigned encoder outputs (the paper's appendix): per code, the EMA count N_k
and the EMA sum m_k, and e_k = m_k / N_k. All functions work on any leading
shape [..., D]; the losses sum over the code dimension and the grid and return
one value per example, like the reconstruction NLL they are added to.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def squared_distances(z, codebook):
    """||z - e_k||^2 for every code. z [..., D], codebook [K, D] -> [..., K].

    Expanded as |z|^2 - 2 z.e + |e|^2: one GEMM instead of a [..., K, D] tensor.
    """
    z_sq = jnp.sum(z ** 2, axis=-1, keepdims=True)          # [..., 1]
    e_sq = jnp.sum(codebook ** 2, axis=-1)                  # [K]
    return z_sq - 2.0 * jnp.einsum("...d,kd->...k", z, codebook) + e_sq


def nearest_code(z, codebook):
    """Index of the nearest code at every position. z [..., D] -> int32 [...]."""
    return jnp.argmin(squared_distances(z, codebook), axis=-1).astype(jnp.int32)


def lookup(codebook, indices):
    """Code vectors of integer indices [...] -> [..., D]."""
    return jnp.take(codebook, indices, axis=0)


def straight_through(z_e, z_q):
    """z_q in the forward pass; in the backward pass the gradient with respect
    to the result goes to z_e unchanged and nothing reaches z_q."""
    return z_e + jax.lax.stop_gradient(z_q - z_e)


def _per_example_sum(x):
    """Sum over every axis but the first (the batch). [B, ...] -> [B]"""
    return jnp.sum(x.reshape(x.shape[0], -1), axis=-1)


def codebook_loss(z_e, z_q):
    """||sg(z_e) - z_q||^2 summed per example: gradient to the codebook only. [B]"""
    return _per_example_sum((jax.lax.stop_gradient(z_e) - z_q) ** 2)


def commitment_loss(z_e, z_q):
    """||z_e - sg(z_q)||^2 summed per example: gradient to the encoder only. [B]"""
    return _per_example_sum((z_e - jax.lax.stop_gradient(z_q)) ** 2)


def code_counts(indices, num_codes: int):
    """How often each code is used in `indices` (any shape). [K] float32"""
    return jnp.bincount(indices.reshape(-1), length=num_codes).astype(jnp.float32)


def perplexity(counts):
    """exp(entropy) of the code-usage distribution: K when every code is used
    equally often, 1 when a single code is used. counts [K] -> scalar."""
    p = counts / jnp.maximum(jnp.sum(counts), 1e-12)
    entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0))
    return jnp.exp(entropy)


def ema_init(codebook):
    """EMA statistics that reproduce `codebook`: count 1 and sum e_k for every code."""
    return {"cluster_size": jnp.ones(codebook.shape[:1], jnp.float32),
            "embed_sum": codebook.astype(jnp.float32)}


def ema_update(stats, z_e, indices, decay: float, epsilon: float):
    """One EMA step of the codebook statistics from a batch of assignments.

    stats {"cluster_size": [K], "embed_sum": [K, D]}; z_e [..., D]; indices [...].
        N_k <- decay N_k + (1 - decay) n_k        n_k = #{i : k_i = k}
        m_k <- decay m_k + (1 - decay) sum_{i : k_i = k} z_i
        e_k  = m_k / N~_k,   N~_k = (N_k + eps) / (N + K eps) * N,   N = sum_k N_k
    The Laplace-smoothed N~_k keeps e_k finite for a code no one has chosen
    (N_k -> 0) while leaving the total count unchanged. Returns (stats, codebook).
    """
    num_codes, dim = stats["embed_sum"].shape
    z = jax.lax.stop_gradient(z_e).reshape(-1, dim)                      # [N, D]
    onehot = jax.nn.one_hot(indices.reshape(-1), num_codes, dtype=z.dtype)  # [N, K]
    cluster_size = decay * stats["cluster_size"] + (1 - decay) * jnp.sum(onehot, axis=0)
    embed_sum = decay * stats["embed_sum"] + (1 - decay) * (onehot.T @ z)
    total = jnp.sum(cluster_size)
    smoothed = (cluster_size + epsilon) / (total + num_codes * epsilon) * total
    codebook = embed_sum / smoothed[:, None]
    return {"cluster_size": cluster_size, "embed_sum": embed_sum}, codebook


def init_codebook_from_data(key, z_e, num_codes: int):
    """K encoder outputs drawn from a batch as the starting codebook, so every
    code begins where the data are (no code starts out of reach). z_e [..., D]."""
    z = z_e.reshape(-1, z_e.shape[-1])
    choice = jax.random.choice(key, z.shape[0], (num_codes,), replace=z.shape[0] < num_codes)
    return z[choice]
