"""The classifier's objective: softmax cross-entropy of the labels, with
random horizontal flips as augmentation. Every random choice comes from an
explicit key argument."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxgen.nn.classifier import apply_model, pixels_to_unit


def random_hflip(key, images):
    """Mirror each image left-right with probability 1/2. [B, H, W, C]"""
    flip = jax.random.bernoulli(key, 0.5, (images.shape[0], 1, 1, 1))
    return jnp.where(flip, images[:, :, ::-1, :], images)


def accuracy(logits, labels):
    return jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))


def cross_entropy_loss(config, params, batch, dropout_key, flip_key):
    """(mean cross-entropy, metrics). Both keys are explicit so tests can fix them."""
    images = pixels_to_unit(batch["image"])  # [B, H, W, C] in [0, 1]
    if config.hflip:
        images = random_hflip(flip_key, images)
    logits, _ = apply_model(config, params, images, dropout_key=dropout_key)  # [B, K]
    loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]))
    return loss, {"accuracy": accuracy(logits, batch["label"])}
