"""init, train_step, eval_step and log_likelihood of the pixelcnn / pixelrnn families."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxgen.autoregressive import losses
from jaxgen.autoregressive.models import class_onehot, make_model
from jaxgen.engine import optim
from jaxgen.engine.state import TrainState, apply_gradients


def make_optimizer(config):
    """Adam, clipped (`optim.grad_clip_norm`, on the nats-per-image gradient)
    and cosine-decayed (`optim.schedule`) as the config's `optim` block says."""
    return optim.make_optimizer(config.optim, total_steps=config.steps)


def init(config, key, sample_batch) -> TrainState:
    params = make_model(config).init(key, losses.image_grid(sample_batch["image"]),
                                     class_onehot(config, sample_batch.get("label")))
    return TrainState.create(params, make_optimizer(config).init(params))


def train_step(config, state, batch, key):
    (loss, aux), grads = jax.value_and_grad(losses.nll_loss, argnums=1, has_aux=True)(
        config, state.params, batch, key)
    state = apply_gradients(state, grads, make_optimizer(config))
    return state, {"loss": loss, **aux, "grad_norm": optax.tree.norm(grads)}


def eval_step(config, state, batch, key):
    del key  # exact likelihood, no dropout at test time
    nll = jnp.mean(losses.image_nll(config, state.params, batch))
    return {"loss": nll, "bpd": losses.bits_per_dim(config, nll)}


def log_likelihood(config, state, batch, key):
    """Exact log p(x) of uint8 images in nats, [B]."""
    del key
    return -losses.image_nll(config, state.params, batch)
