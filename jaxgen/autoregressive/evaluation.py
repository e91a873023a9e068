"""Test-set evaluations of the autoregressive families for `jaxgen eval`.

    bpd   nll_nats, bpd      exact test NLL of the first `num` test images
    sampling_time            seconds per image of the naive and the cached sampler
"""
from __future__ import annotations

import functools
import time

import jax
import numpy as np

from jaxgen import data
from jaxgen.autoregressive import sampling

EVAL_BATCH = 250
TIMED_IMAGES = 4  # the naive sampler runs 784 full forward passes per batch


def evaluate_bpd(run, key, num: int) -> dict:
    from jaxgen.autoregressive.family import bits_per_dim, log_likelihood
    arrays = data.load_arrays(run.config, "test")
    total = min(num, len(arrays["image"]))
    fn = jax.jit(functools.partial(log_likelihood, run.config, run.state))
    nats = 0.0
    for start in range(0, total, EVAL_BATCH):
        batch = {name: a[start:start + EVAL_BATCH] for name, a in arrays.items()}
        nats -= float(np.sum(np.asarray(fn(batch, key), np.float64)))
    nll = nats / total
    return {"nll_nats": nll, "bpd": float(bits_per_dim(nll)), "num_images": total}


def time_sampler(run, key, num: int, sampler: str) -> float:
    """Seconds per image of one jitted sampling call (compiled beforehand)."""
    from jaxgen.autoregressive.family import IMAGE_SHAPE, make_model, sample_labels
    model = make_model(run.config)
    labels = sample_labels(run.config, num)  # None for an unconditional model
    fn = jax.jit(lambda params, k: sampling.sample_grid(model, params, k, num, *IMAGE_SHAPE,
                                                        labels, sampler))
    jax.block_until_ready(fn(run.state.params, key))  # compile
    start = time.perf_counter()
    jax.block_until_ready(fn(run.state.params, jax.random.fold_in(key, 1)))
    return (time.perf_counter() - start) / num


def evaluate_sampling_time(run, key, num: int) -> dict:
    num = min(num, TIMED_IMAGES)
    naive = time_sampler(run, key, num, "naive")
    cached = time_sampler(run, key, num, "cached")
    return {"naive_s_per_image": naive, "cached_s_per_image": cached,
            "cached_speedup": naive / cached, "timed_batch": num}


EVALUATIONS = {"bpd": evaluate_bpd, "sampling_time": evaluate_sampling_time}
