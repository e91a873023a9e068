"""Distances between two sets of features: Frechet distance (FID) and KID.

Both compare an extractor's features of real and generated images. FID fits
a Gaussian to each set; KID is an unbiased MMD estimate with the polynomial
kernel k(x, y) = (x.y / D + 1)^3, averaged over random subsets (it has no
bias towards small sample counts, unlike FID).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def gaussian_stats(features):
    """Mean [D] and unbiased covariance [D, D] of features [N, D]."""
    features = jnp.asarray(features)
    mean = jnp.mean(features, axis=0)
    centred = features - mean
    return mean, centred.T @ centred / (features.shape[0] - 1)


def _psd_eigvals(values):
    """Eigenvalues of a PSD matrix with rounding noise set to 0.

    eigh returns the zero eigenvalues of a singular covariance as +-(D * eps *
    largest) noise. Clipping at 0 is not enough: the square root magnifies
    a noise of 1e-6 to 1e-3, and a rank-deficient 16-D covariance in float32
    then misses FID by ~0.5%. Values below the noise level are therefore
    zeroed (as a pseudo-inverse's rcond does).
    """
    eps = jnp.finfo(values.dtype).eps
    cutoff = values.shape[-1] * eps * jnp.max(jnp.abs(values))
    return jnp.where(values > cutoff, values, 0.0)


def _psd_sqrt(matrix):
    """Square root of a symmetric positive semi-definite matrix via eigh."""
    values, vectors = jnp.linalg.eigh(matrix)
    return (vectors * jnp.sqrt(_psd_eigvals(values))) @ vectors.T


@jax.jit
def frechet_distance(mu1, cov1, mu2, cov2):
    """||mu1 - mu2||^2 + tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2)).

    With S1, S2 the symmetric square roots of cov1, cov2 (from `eigh`, stable
    for singular covariances), cov1 cov2 = S1 (S1 S2) S2 has the eigenvalues
    of (S1 S2)(S1 S2)^T, so tr((cov1 cov2)^(1/2)) is the sum of the singular
    values of S1 S2. Taking singular values of S1 S2, rather than eigenvalues
    of S1 cov2 S1, keeps the condition number from being squared: in float32
    that is the difference between FID(x, x) = 0.002 and 22 on 128-D
    features with 300 samples.
    """
    mu1, mu2, cov1, cov2 = map(jnp.asarray, (mu1, mu2, cov1, cov2))
    trace_sqrt = jnp.sum(jnp.linalg.svd(_psd_sqrt(cov1) @ _psd_sqrt(cov2), compute_uv=False))
    return jnp.sum((mu1 - mu2) ** 2) + jnp.trace(cov1) + jnp.trace(cov2) - 2.0 * trace_sqrt


def polynomial_kernel(x, y):
    """(x.y / D + 1)^3 for x [N, D], y [M, D] -> [N, M]."""
    return (x @ y.T / x.shape[-1] + 1.0) ** 3


def mmd2_unbiased(x, y):
    """Unbiased MMD^2 between x [m, D] and y [n, D] with the polynomial kernel.

    The within-set means leave out the diagonal k(x_i, x_i): including it is
    what biases the plain estimate upwards.
    """
    m, n = x.shape[0], y.shape[0]
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within_x = (jnp.sum(k_xx) - jnp.trace(k_xx)) / (m * (m - 1))
    within_y = (jnp.sum(k_yy) - jnp.trace(k_yy)) / (n * (n - 1))
    return within_x + within_y - 2.0 * jnp.mean(k_xy)


def subset_indices(key, num_rows: int, num_subsets: int, subset_size: int):
    """[num_subsets, subset_size] row indices, each row without repetition."""
    keys = jax.random.split(key, num_subsets)
    return jax.vmap(lambda k: jax.random.permutation(k, num_rows)[:subset_size])(keys)


@functools.partial(jax.jit, static_argnames=("num_subsets", "subset_size"))
def _kid(feats1, feats2, key, num_subsets: int, subset_size: int):
    k1, k2 = jax.random.split(key)
    rows1 = subset_indices(k1, feats1.shape[0], num_subsets, subset_size)
    rows2 = subset_indices(k2, feats2.shape[0], num_subsets, subset_size)
    # One subset at a time (lax.map): three [s, s] kernel matrices, not 3 * num_subsets.
    values = jax.lax.map(lambda r: mmd2_unbiased(feats1[r[0]], feats2[r[1]]), (rows1, rows2))
    return jnp.mean(values), jnp.std(values)


def kernel_inception_distance(feats1, feats2, num_subsets: int = 100, subset_size: int = 1000,
                              key=None):
    """KID: (mean, std) of the unbiased MMD^2 over `num_subsets` random subsets.

    Each subset takes min(subset_size, N1, N2) rows of each set, without
    repetition. `key` draws the subsets (default: key 0, so a repeated call
    gives the same value).
    """
    feats1, feats2 = jnp.asarray(feats1), jnp.asarray(feats2)
    size = min(subset_size, feats1.shape[0], feats2.shape[0])
    if size < 2:
        raise ValueError(f"KID needs at least 2 features per set, got {feats1.shape[0]} "
                         f"and {feats2.shape[0]}")
    key = jax.random.key(0) if key is None else key
    return _kid(feats1, feats2, key, num_subsets=num_subsets, subset_size=size)
