"""`classifier` family: Fashion-MNIST classifiers trained by the engine.

A classifier models p(y | x), not p(x): it does not generate, so it registers
no `sample`. It is here for two reasons: the course's supervised baseline
(MLP vs CNN test accuracy), and the CNN is the feature extractor of every
image metric (`jaxgen.metrics`, DESIGN.md "Metrics").

Objective: mean softmax cross-entropy, AdamW with a cosine learning-rate
decay. The step key is split into a dropout key and an augmentation key
(random horizontal flips), both explicit arguments of the loss.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxgen import data
from jaxgen.nn.classifier import (MODELS, apply_model, make_model, pixels_to_unit,
                                      standardise)
from jaxgen.engine.config import base_config
from jaxgen.engine.state import TrainState, apply_gradients
from jaxgen.errors import ConfigError
from jaxgen.registry import Family, register


def default_config():
    c = base_config()
    c.family = "classifier"
    c.model = "cnn"              # "mlp" | "cnn"
    c.batch_size = 128
    c.steps = 4690               # 10 epochs of 469 batches
    c.learning_rate = 2e-3       # peak of the cosine decay
    c.decay_steps = 0            # length of the cosine decay; 0: `steps`
    c.weight_decay = 1e-4        # AdamW, decoupled
    c.dropout = 0.3
    c.hflip = True               # random horizontal flips (clothes stay clothes)
    c.mlp_hidden = (512, 256)
    c.cnn_channels = (32, 64, 128)
    c.feature_dim = 128          # CNN penultimate width: the metrics' feature space
    c.eval_batches = 20
    return c


def validate(config) -> None:
    data.require_image_dataset(config)
    if config.model not in MODELS:
        raise ConfigError(f"model must be one of {MODELS}, got {config.model!r}")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {config.dropout}")


def make_optimizer(config):
    decay_steps = config.decay_steps or config.steps
    schedule = optax.cosine_decay_schedule(config.learning_rate, max(decay_steps, 1))
    return optax.adamw(schedule, weight_decay=config.weight_decay)


def random_hflip(key, images):
    """Mirror each image left-right with probability 1/2. [B, H, W, C]"""
    flip = jax.random.bernoulli(key, 0.5, (images.shape[0], 1, 1, 1))
    return jnp.where(flip, images[:, :, ::-1, :], images)


def init(config, key, sample_batch) -> TrainState:
    validate(config)
    params = make_model(config, data.num_classes(config)).init(key, standardise(pixels_to_unit(sample_batch["image"])))
    return TrainState.create(params, make_optimizer(config).init(params))


def cross_entropy_loss(config, params, batch, dropout_key, flip_key):
    """(mean cross-entropy, metrics). Both keys are explicit so tests can fix them."""
    images = pixels_to_unit(batch["image"])
    if config.hflip:
        images = random_hflip(flip_key, images)
    logits, _ = apply_model(config, params, images, dropout_key=dropout_key)
    loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]))
    return loss, {"accuracy": accuracy(logits, batch["label"])}


def accuracy(logits, labels):
    return jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))


def train_step(config, state, batch, key):
    dropout_key, flip_key = jax.random.split(key)
    (loss, aux), grads = jax.value_and_grad(cross_entropy_loss, argnums=1, has_aux=True)(
        config, state.params, batch, dropout_key, flip_key)
    return apply_gradients(state, grads, make_optimizer(config)), {"loss": loss, **aux}


def eval_step(config, state, batch, key):
    """Deterministic: no dropout, no flips (`key` is unused)."""
    del key
    logits, _ = apply_model(config, state.params, pixels_to_unit(batch["image"]))
    labels = batch["label"]
    loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
    return {"loss": loss, "accuracy": accuracy(logits, labels)}


def _register():
    from jaxgen.classifier import evaluation
    register(Family(
        name="classifier",
        description="Fashion-MNIST classifier (MLP or CNN); the CNN is the feature "
                    "extractor of FID/KID/IS/PR-FMNIST. Does not sample",
        default_config=default_config, init=init, train_step=train_step,
        sample=None, eval_step=eval_step, evaluations=evaluation.EVALUATIONS))


_register()
