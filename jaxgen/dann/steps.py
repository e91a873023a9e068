"""DANN training: init, the train step with the scheduled lambda and learning
rate, and the periodic eval step.

TrainState.params = {"features", "label", "domain"}; one optimizer updates
all three (the adversarial game is inside the loss, through the gradient
reversal). Training progress p = step / steps drives both schedules of
Ganin et al.: lambda_p = 2 / (1 + exp(-10 p)) - 1 (when `adapt`) and the
learning rate times 1 / (1 + 10 p) ** 0.75 (when `anneal_lr`). Nothing here
is random: the step key is unused.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxgen import data
from jaxgen.dann import losses
from jaxgen.dann.models import NETWORKS, make_networks, to_input
from jaxgen.engine import optim
from jaxgen.engine.state import TrainState, apply_gradients
from jaxgen.nn.gradient_reversal import ganin_lambda, ganin_lr_factor


def progress(config, step):
    """p in [0, 1]: the fraction of training done before this step."""
    return jnp.asarray(step, jnp.float32) / max(config.steps, 1)


def make_optimizer(config) -> optax.GradientTransformation:
    """The `optim` block's optimizer, its updates scaled by Ganin's annealing
    1 / (1 + 10 p) ** 0.75 at update count = step (so a resume is exact)."""
    base = optim.make_optimizer(config.optim, total_steps=max(config.steps, 1))
    if not config.anneal_lr:
        return base
    return optax.chain(base, optax.scale_by_schedule(
        lambda count: ganin_lr_factor(progress(config, count))))


def networks(config):
    return make_networks(config, data.num_classes(config))


def init(config, key, sample_batch) -> TrainState:
    nets = networks(config)
    keys = dict(zip(NETWORKS, jax.random.split(key, len(NETWORKS))))
    x = to_input(sample_batch["image"][:1])
    params = {"features": nets["features"].init(keys["features"], x)}
    feats = nets["features"].apply(params["features"], x)
    params["label"] = nets["label"].init(keys["label"], feats)
    params["domain"] = nets["domain"].init(keys["domain"], feats)
    return TrainState.create(params, make_optimizer(config).init(params))


def reversal_weight(config, step):
    """lambda of this step: Ganin's schedule when adapting, 0 for source only."""
    if not config.adapt:
        return jnp.zeros((), jnp.float32)
    if config.lambda_schedule:
        return config.lambda_max * ganin_lambda(progress(config, step))
    return jnp.asarray(config.lambda_max, jnp.float32)


def train_step(config, state, batch, key):
    del key  # deterministic: no dropout, no augmentation
    lam = reversal_weight(config, state.step)
    (loss, metrics), grads = jax.value_and_grad(losses.dann_loss, argnums=1, has_aux=True)(
        networks(config), state.params, batch, lam, config.domain_weight)
    state = apply_gradients(state, grads, make_optimizer(config))
    return state, {"loss": loss, "lambda": lam, **metrics}


def eval_step(config, state, batch, key):
    """Label loss and accuracy on a test batch (its labelled rows: all of them)."""
    del key
    _, metrics = losses.dann_loss(networks(config), state.params, batch, 0.0,
                                  config.domain_weight)
    return metrics
