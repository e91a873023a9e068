"""TrainState: everything that changes during training, as one pytree.

Optimizers (optax GradientTransformations) are functions, not state, so they
are rebuilt from the config wherever they are needed; only their state lives
here. Families with two networks (GANs) keep dicts in `params` and
`opt_state`. `ema_params` is None unless the family keeps an average.
`extra` holds any other arrays a family needs (batch statistics, codebooks).
"""
from __future__ import annotations

from typing import Any

import flax.struct
import optax
import jax.numpy as jnp


class TrainState(flax.struct.PyTreeNode):
    step: Any  # int32 scalar array: the number of updates applied so far
    params: Any
    opt_state: Any
    ema_params: Any = None
    extra: Any = None

    @classmethod
    def create(cls, params, opt_state, ema_params=None, extra=None) -> "TrainState":
        return cls(step=jnp.zeros((), jnp.int32), params=params, opt_state=opt_state,
                   ema_params=ema_params, extra=extra)


def apply_gradients(state: TrainState, grads, optimizer) -> TrainState:
    """One optimizer update of `state.params` (single-network families)."""
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    return state.replace(params=optax.apply_updates(state.params, updates), opt_state=opt_state)
