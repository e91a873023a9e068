"""The pixelcnn / pixelrnn families' own `jaxgen eval` metric (the test NLL
and bits/dim are the shared `nll`, the sampling rate the shared `sample_time`).

    sampler_speedup   seconds per image of the naive and of the cached
                      sampler on the same key, and their ratio
"""
from __future__ import annotations

import functools
import time

import jax

from jaxgen.autoregressive import sampling
from jaxgen.autoregressive.models import network_class

TIMED_IMAGES = 4  # the naive sampler runs H * W * C full forward passes per batch


def time_sampler(run, key, num: int, sampler: str) -> float:
    """Seconds per image of one jitted sampling call (compiled beforehand)."""
    fn = jax.jit(functools.partial(sampling.sample_tokens, run.config, num=num, sampler=sampler))
    jax.block_until_ready(fn(run.state.params, key))  # compiles
    start = time.perf_counter()
    jax.block_until_ready(fn(run.state.params, jax.random.fold_in(key, 1)))
    return (time.perf_counter() - start) / num


def evaluate_sampler_speedup(run, key, num: int) -> dict:
    """Both samplers on min(num, TIMED_IMAGES) images; a network without a
    cache API (pixelcnn_pp, the Diagonal BiLSTM) reports the naive one only."""
    num = min(num, TIMED_IMAGES)
    out = {"naive_s_per_image": time_sampler(run, key, num, "naive"), "timed_batch": num}
    if network_class(run.config).has_cache:
        out["cached_s_per_image"] = time_sampler(run, key, num, "cached")
        out["cached_speedup"] = out["naive_s_per_image"] / out["cached_s_per_image"]
    return out


EVALUATIONS = {"sampler_speedup": evaluate_sampler_speedup}
