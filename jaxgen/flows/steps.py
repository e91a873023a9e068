"""init, train_step, eval_step and log_likelihood of the realnvp / glow families."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.engine import optim
from jaxgen.engine.state import TrainState, apply_gradients
from jaxgen.flows import dequantization as deq
from jaxgen.flows import losses
from jaxgen.flows.models import make_dequantizer, make_flow, uses_points


def make_optimizer(config):
    """Adam after a linear warm-up (`optim.warmup_steps`: early flow updates
    are large) and a global-norm clip (`optim.grad_clip_norm`)."""
    return optim.make_optimizer(config.optim, total_steps=config.steps)


def init(config, key, sample_batch) -> TrainState:
    """Parameters from `key`; actnorm layers are initialised from `sample_batch`."""
    k_params, k_noise = jax.random.split(key)
    if uses_points(config):
        x = losses.as_points(sample_batch["point"])
    else:
        pixels = sample_batch["image"]
        x, _ = deq.pixels_to_flow_input(pixels, jax.random.uniform(k_noise, pixels.shape),
                                        config.logit_alpha)
    all_vars = dict(make_flow(config).init(k_params, x))
    params = all_vars.pop("params")
    extra = all_vars or None  # "constants" of the 1x1 convolutions (glow), else nothing
    if losses.uses_variational_dequantization(config):
        pixels = sample_batch["image"]
        deq_vars = make_dequantizer(config).init(jax.random.fold_in(k_params, 1), pixels,
                                                 jnp.zeros(pixels.shape, jnp.float32))
        params = {"flow": params, "dequantizer": deq_vars["params"]}
    return TrainState.create(params, make_optimizer(config).init(params), extra=extra)


def train_step(config, state, batch, key):
    (_, metrics), grads = jax.value_and_grad(losses.loss_fn, argnums=1, has_aux=True)(
        config, state.params, state.extra, batch, key)
    return apply_gradients(state, grads, make_optimizer(config)), metrics


def eval_step(config, state, batch, key):
    return losses.loss_fn(config, state.params, state.extra, batch, key)[1]


def log_likelihood(config, state, batch, key):
    """Test-time log-likelihood, nats per example [B] (images: lower bound, one noise draw)."""
    return losses.log_likelihood_from_params(config, state.params, state.extra, batch, key)
