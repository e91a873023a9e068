"""init, train_step and eval_step of the VAE-GAN.

State layout: params and opt_state are {"enc", "dec", "dis"}; each network
has its own optimizer block (`optim.enc`, `optim.dec`, `optim.dis`). One
train step computes the three losses on one batch with one key and updates
the three networks simultaneously from the same parameters, as Algorithm 1
of Larsen et al. does (all gradients first, then the three updates).
"""
from __future__ import annotations

import jax
import optax

from jaxgen.engine.optim import make_optimizer
from jaxgen.engine.state import TrainState
from jaxgen.vaegan import losses, models

NETWORKS = ("enc", "dec", "dis")


def make_optimizers(config) -> dict:
    return {name: make_optimizer(config.optim[name], total_steps=config.steps)
            for name in NETWORKS}


def init(config, key, sample_batch) -> TrainState:
    params = models.init_params(config, key, sample_batch["image"])
    optimizers = make_optimizers(config)
    return TrainState.create(params, {n: optimizers[n].init(params[n]) for n in NETWORKS})


def train_step(config, state, batch, key):
    grads, metrics = jax.grad(losses.total_loss, argnums=1, has_aux=True)(
        config, state.params, batch["image"], key)
    optimizers = make_optimizers(config)
    params, opt_state = {}, {}
    for name in NETWORKS:
        updates, opt_state[name] = optimizers[name].update(
            grads[name], state.opt_state[name], state.params[name])
        params[name] = optax.apply_updates(state.params[name], updates)
    return state.replace(params=params, opt_state=opt_state), metrics


def eval_step(config, state, batch, key):
    """The three losses on a held-out batch."""
    _, metrics = losses.vaegan_losses(config, state.params, batch["image"], key)
    return metrics
