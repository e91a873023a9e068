"""init, train_step and eval_step of the classifier family."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxgen import data
from jaxgen.classifier import losses
from jaxgen.engine import optim
from jaxgen.engine.state import TrainState, apply_gradients
from jaxgen.nn.classifier import apply_model, make_model, pixels_to_unit, standardise


def make_optimizer(config):
    """AdamW with a cosine decay over `optim.decay_steps` (0: the run's steps,
    at least 1, as before the optim block existed)."""
    return optim.make_optimizer(config.optim, total_steps=max(config.steps, 1))


def init(config, key, sample_batch) -> TrainState:
    model = make_model(config, data.num_classes(config))
    params = model.init(key, standardise(pixels_to_unit(sample_batch["image"])))
    return TrainState.create(params, make_optimizer(config).init(params))


def train_step(config, state, batch, key):
    dropout_key, flip_key = jax.random.split(key)
    (loss, aux), grads = jax.value_and_grad(losses.cross_entropy_loss, argnums=1, has_aux=True)(
        config, state.params, batch, dropout_key, flip_key)
    return apply_gradients(state, grads, make_optimizer(config)), {"loss": loss, **aux}


def eval_step(config, state, batch, key):
    """Deterministic: no dropout, no flips (`key` is unused)."""
    del key
    logits, _ = apply_model(config, state.params, pixels_to_unit(batch["image"]))
    labels = batch["label"]
    loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
    return {"loss": loss, "accuracy": losses.accuracy(logits, labels)}
