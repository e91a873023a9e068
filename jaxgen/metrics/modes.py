"""Mode coverage of 2-D samples for the mixtures `ring8` and `grid25`.

The mode-collapse protocol of the toy 2-D experiments (as in PacGAN and
VEEGAN): a sample is "high quality" when it lies within 3 standard deviations
of its nearest mode centre; a mode is covered when at least `min_count`
high-quality samples fall on it; the reverse KL compares the histogram of
high-quality samples over the modes with the true, uniform, mode weights
(KL(model || data), which grows when modes are missing or unequal).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxgen.metrics.batching import pairwise_sq_distances
from jaxgen.metrics.divergences import kl_discrete

QUALITY_STDS = 3.0


@functools.partial(jax.jit, static_argnames="min_count")
def mode_coverage(points, centres, std, min_count: int = 1):
    """points [N, 2], centres [M, 2], per-mode std -> dict of scalars:

    modes_covered     number of modes with >= min_count high-quality samples
    high_quality      fraction of samples within 3 std of their nearest mode
    reverse_kl        KL(high-quality mode histogram || uniform); inf if none
    """
    points, centres = jnp.asarray(points, jnp.float32), jnp.asarray(centres, jnp.float32)
    num_modes = centres.shape[0]
    sq = pairwise_sq_distances(points, centres)  # [N, M]
    nearest = jnp.argmin(sq, axis=1)  # [N]
    good = jnp.min(sq, axis=1) <= (QUALITY_STDS * std) ** 2  # [N]
    counts = jax.ops.segment_sum(good.astype(jnp.float32), nearest, num_modes)  # [M]
    total = jnp.sum(counts)
    histogram = counts / jnp.maximum(total, 1.0)
    reverse_kl = jnp.where(total > 0,
                           kl_discrete(histogram, jnp.full(num_modes, 1.0 / num_modes)),
                           jnp.inf)
    return {"modes_covered": jnp.sum(counts >= min_count),
            "high_quality": jnp.mean(good.astype(jnp.float32)),
            "reverse_kl": reverse_kl}


def toy_mode_coverage(name: str, points, min_count: int = 1) -> dict:
    """`mode_coverage` with the centres and std of the toy dataset `name`."""
    from jaxgen.data import toy2d
    return mode_coverage(points, toy2d.mode_centers(name), toy2d.mode_std(name),
                         min_count=min_count)
