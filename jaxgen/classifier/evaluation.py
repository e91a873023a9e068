"""The classifier's `jaxgen eval` metric, over the first `num` test images
through the one test-set runner (jaxgen.metrics.runner.per_example);
deterministic: no dropout, no flips.

    accuracy   test_accuracy and accuracy_CLASS per class (the dataset's class names)
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen import data
from jaxgen.metrics import runner
from jaxgen.nn.classifier import apply_model, pixels_to_unit


def predict_labels(config, params, pixels):
    """uint8 [B, H, W, C] -> predicted class [B]."""
    logits, _ = apply_model(config, params, pixels_to_unit(pixels))
    return jnp.argmax(logits, axis=-1)


def correct_predictions(config, params, batch, key):
    """Per test image [B]: 1.0 where the prediction is the label, and the label."""
    del key
    predicted = predict_labels(config, params, batch["image"])
    return {"correct": (predicted == batch["label"]).astype(jnp.float32),
            "label": batch["label"]}


def test_accuracy(run, key, num: int) -> dict:
    """Fraction of the first `num` test images classified correctly, and per class."""
    key = jax.random.key(0) if key is None else key  # unused: the evaluation is deterministic
    fn = jax.jit(functools.partial(correct_predictions, run.config, run.state.params))
    values = runner.per_example(fn, data.load_split(run.config, "test"), key, num)
    correct, labels = values["correct"], values["label"].astype(np.int64)
    names = data.spec(run.config).class_names or tuple(
        str(k) for k in range(data.num_classes(run.config)))
    per_class = {f"accuracy_{name}": float(np.mean(correct[labels == k]))
                 for k, name in enumerate(names) if np.any(labels == k)}
    return {"test_accuracy": float(np.mean(correct)), "num_images": int(len(correct)),
            "model": run.config.model, **per_class}


EVALUATIONS = {"accuracy": test_accuracy}
