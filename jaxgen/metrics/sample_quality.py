"""Scores of a set of generated samples: Inception-style Score, precision and recall.

Inception Score: exp(E_x KL(p(y|x) || p(y))), large when each sample is
classified confidently (sharp p(y|x)) and the classes are used evenly (flat
p(y)); between 1 and the number of classes. Computed on `splits` parts.

Precision and recall (Kynkaanniemi et al., 2019): each set defines a manifold,
the union of balls around its points whose radius is the distance to the
point's k-th nearest neighbour in the same set. Precision is the fraction of
generated points inside the real manifold (quality); recall the fraction of
real points inside the generated manifold (coverage).

Class histogram (mode collapse on images): how many samples the classifier
puts in each class, and the KL divergence of that histogram to the uniform
one, log K - H(histogram): 0 when every class is used equally, log K when one
class takes every sample.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy

from jaxgen.metrics.batching import map_in_blocks, pairwise_sq_distances

DISTANCE_BLOCK = 1000  # rows of the distance matrix computed at once


@functools.partial(jax.jit, static_argnames="splits")
def inception_score(probs, splits: int = 10):
    """(mean, std) over `splits` contiguous parts of exp(mean KL(p(y|x) || p(y))).

    probs [N, K], each row a distribution. Row r belongs to part
    floor(r * splits / N), so N need not divide evenly.
    """
    probs = jnp.asarray(probs, jnp.float32)
    num = probs.shape[0]
    part = jnp.arange(num) * splits // num  # [N] part of each row
    counts = jax.ops.segment_sum(jnp.ones(num), part, splits)  # [splits]
    marginals = jax.ops.segment_sum(probs, part, splits) / counts[:, None]  # [splits, K]
    kl = jnp.sum(xlogy(probs, probs) - xlogy(probs, marginals[part]), axis=-1)  # [N]
    scores = jnp.exp(jax.ops.segment_sum(kl, part, splits) / counts)  # [splits]
    return jnp.mean(scores), jnp.std(scores)


def class_histogram(probs) -> jnp.ndarray:
    """Number of samples whose most probable class is k, for each k. probs [N, K] -> [K]"""
    probs = jnp.asarray(probs)
    return jnp.bincount(jnp.argmax(probs, axis=-1), length=probs.shape[-1])


def kl_to_uniform(counts) -> jnp.ndarray:
    """KL(counts / N || uniform over the K classes), in nats. counts [K] -> []"""
    counts = jnp.asarray(counts, jnp.float32)
    frequencies = counts / jnp.sum(counts)
    return jnp.log(counts.shape[-1]) + jnp.sum(xlogy(frequencies, frequencies))


def knn_radii(features, k: int):
    """Distance from each row of features [N, D] to its k-th nearest other row. [N]"""
    def block_radii(rows):  # [b, D] -> [b]
        sq = pairwise_sq_distances(rows, features)  # [b, N]
        # The k + 1 smallest include the row itself at distance 0.
        smallest = -jax.lax.top_k(-sq, k + 1)[0]  # [b, k + 1], ascending
        return jnp.sqrt(smallest[:, k])

    return map_in_blocks(block_radii, features, DISTANCE_BLOCK)


def inside_manifold(points, centres, radii):
    """Whether each point [N, D] lies in some ball (centres [M, D], radii [M]). [N] bool"""
    def block_inside(rows):
        sq = pairwise_sq_distances(rows, centres)  # [b, M]
        return jnp.any(sq <= radii[None, :] ** 2, axis=1)

    return map_in_blocks(block_inside, points, DISTANCE_BLOCK)


@functools.partial(jax.jit, static_argnames="k")
def precision_recall(real_feats, fake_feats, k: int = 3):
    """(precision, recall) of fake_feats [M, D] against real_feats [N, D], k-NN manifolds."""
    real, fake = jnp.asarray(real_feats), jnp.asarray(fake_feats)
    precision = jnp.mean(inside_manifold(fake, real, knn_radii(real, k)).astype(jnp.float32))
    recall = jnp.mean(inside_manifold(real, fake, knn_radii(fake, k)).astype(jnp.float32))
    return precision, recall
