"""Train-step throughput of any family, for `jaxgen bench` and benchmarks/."""
from __future__ import annotations

import functools
import time

import jax
import numpy as np

from jaxgen import data, registry
from jaxgen.engine import sharding
from jaxgen.engine.keys import run_keys
from jaxgen.engine.loop import make_train_call


def train_step_throughput(config, steps: int = 50, warmup: int = 3) -> float:
    """Examples per second of the jitted, donated train step on real batches
    (the engine's own step function, so what is measured is what trains)."""
    family = registry.get(config.family)
    mesh = sharding.make_mesh(config.fsdp)
    sharding.check_batch_size(config.batch_size, mesh)
    keys = run_keys(config.seed)
    arrays = data.train_data(config)
    iterator = data.make_iterator(config, arrays, config.batch_size, keys.data)
    batches = [sharding.put_batch(next(iterator), mesh) for _ in range(8)]
    sample = {k: np.asarray(v) for k, v in next(iterator).items()}
    init = functools.partial(family.init, config)
    state_sharding = sharding.state_sharding(mesh, jax.eval_shape(init, keys.init, sample))
    state = jax.jit(init, out_shardings=state_sharding)(keys.init, sample)
    step = make_train_call(family, config, keys.train, state_sharding, mesh)
    for i in range(warmup):
        state, metrics = step(state, batches[i % len(batches)])
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for i in range(steps):
        state, metrics = step(state, batches[i % len(batches)])
    jax.block_until_ready((state, metrics))
    return steps * config.batch_size / (time.perf_counter() - start)
