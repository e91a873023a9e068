"""The run's PRNG keys, all derived from `config.seed` (DESIGN.md, "PRNG").

Step keys are derived, never carried: `fold_in(train, step)`. Nothing random
therefore needs saving, and a resumed run draws exactly the keys the
uninterrupted run would have drawn.
"""
from __future__ import annotations

from typing import NamedTuple

import jax


class RunKeys(NamedTuple):
    init: jax.Array    # parameter initialisation
    train: jax.Array   # fold_in(train, step) -> the key of one train step
    data: jax.Array    # fold_in(data, epoch) -> the shuffle of one epoch
    eval: jax.Array    # fold_in(eval, step) -> periodic evaluation
    sample: jax.Array  # fixed: periodic sample grids share one key, so they are comparable


def run_keys(seed: int) -> RunKeys:
    return RunKeys(*jax.random.split(jax.random.key(seed), 5))


def step_key(train_key, step):
    return jax.random.fold_in(train_key, step)
