"""Test-set evaluation of a classifier run for `jaxgen eval`.

Each evaluation is `fn(run, key, num) -> dict` over the first `num` test
images (all 10,000 by default), deterministic: no dropout, no flips.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen import data
from jaxgen.nn.classifier import apply_model, pixels_to_unit

EVAL_BATCH = 500


def predict_labels(config, params, pixels):
    """uint8 [B, 28, 28, 1] -> predicted class [B]."""
    logits, _ = apply_model(config, params, pixels_to_unit(pixels))
    return jnp.argmax(logits, axis=-1)


def test_accuracy(run, key, num: int) -> dict:
    """Fraction of the first `num` test images classified correctly, and per class."""
    del key
    arrays = data.load_arrays(run.config, "test")
    total = min(num, len(arrays["label"]))
    predict = jax.jit(functools.partial(predict_labels, run.config))
    predictions = np.concatenate([
        np.asarray(predict(run.state.params, arrays["image"][start:start + EVAL_BATCH]))
        for start in range(0, total, EVAL_BATCH)])[:total]
    labels = np.asarray(arrays["label"][:total])
    correct = predictions == labels
    per_class = {f"accuracy_{name}": float(np.mean(correct[labels == k]))
                 for k, name in enumerate(data.FASHION_MNIST_CLASSES) if np.any(labels == k)}
    return {"test_accuracy": float(np.mean(correct)), "num_images": int(total),
            "model": run.config.model, **per_class}


EVALUATIONS = {"accuracy": test_accuracy}
