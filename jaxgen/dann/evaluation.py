"""DANN's `jaxgen eval` metric, through the one test-set runner.

    accuracy   target_accuracy: the label classifier on the first `num` test
               images of the target (`dataset_b` of a mixture; of a run on one
               labelled dataset, that dataset: the oracle row), with its
               standard error; source_accuracy on the source's test images;
               domain_accuracy: the domain classifier on both (chance is 0.5).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen import data
from jaxgen.dann.models import to_input
from jaxgen.dann.steps import networks
from jaxgen.metrics import runner


def test_sides(config) -> dict:
    """{"source": arrays, "target": arrays} of the test split ({"target"} alone
    for a run on one dataset). Arrays: image, label (and domain)."""
    arrays = data.load_split(config, "test")
    if "domain" not in arrays:
        return {"target": arrays}
    return {side: {k: a[arrays["domain"] == d] for k, a in arrays.items()}
            for side, d in (("source", 0), ("target", 1))}


def features_and_predictions(config, params, batch, key):
    """Per test image: its features [B, F], whether the label head is right,
    and the domain head's "target" logit [B]."""
    del key
    nets = networks(config)
    feats = nets["features"].apply(params["features"], to_input(batch["image"]))
    logits = nets["label"].apply(params["label"], feats)
    correct = (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
    return {"features": feats, "correct": correct,
            "domain_logit": nets["domain"].apply(params["domain"], feats)[:, 0]}


def per_side(run, key, num: int) -> dict:
    """side -> the per-example values of features_and_predictions (float64)."""
    fn = jax.jit(functools.partial(features_and_predictions, run.config, run.state.params))
    return {side: runner.per_example(fn, arrays, jax.random.fold_in(key, i), num)
            for i, (side, arrays) in enumerate(test_sides(run.config).items())}


def accuracy(run, key, num: int) -> dict:
    values = per_side(run, key, num)
    out = {}
    for side, v in values.items():
        mean, stderr = runner.mean_and_stderr(v["correct"])
        out[f"{side}_accuracy"], out[f"{side}_accuracy_stderr"] = mean, stderr
        out[f"{side}_num_images"] = int(len(v["correct"]))
    if "source" in values:
        right = np.concatenate([values["source"]["domain_logit"] <= 0,
                                values["target"]["domain_logit"] > 0])
        out["domain_accuracy"] = float(np.mean(right))
    return out


EVALUATIONS = {"accuracy": accuracy}
