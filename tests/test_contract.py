"""One contract over every registered family (DESIGN.md, "Family protocol").

For each name in `registry.names()`: init, two train steps, a checkpoint
at each; a run resumed from the first checkpoint equals the uninterrupted
one bit for bit (state and logged metrics); samples have the dataset's
shape and lie in [0, 1] (text: token ids in [0, vocabulary size)); every
evaluation the family declares, and every shared one it is offered, runs on
a tiny test set; its pictures are written.
And every image family trains and samples on a 32x32 RGB dataset with no
change beyond the config.

A family registered without an entry in tests/tiny_configs.py fails here.
"""
import json
import os
import shutil

import jax
import numpy as np
import pytest

import jaxgen
from jaxgen import data, registry
from jaxgen.engine import config as config_lib
from jaxgen.engine.images import read_metrics
from jaxgen.engine.loop import train
from jaxgen.metrics import evaluations

from conftest import without_wall_clock
from tiny_configs import tiny_overrides

FAMILIES = registry.names()
EVAL_NUM = 4  # test images / samples per evaluation


def build(family, **overrides):
    return config_lib.build_config(family, overrides=tiny_overrides(family, **overrides))


def leaves_equal(a, b) -> None:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def logged_rows(workdir):
    return without_wall_clock(read_metrics(os.path.join(workdir, "metrics.jsonl")))


def resume_from_first_checkpoint(straight: str, split: str, config) -> None:
    """Copy the straight run, keep only its step-1 checkpoint, train on to the end."""
    shutil.copytree(straight, split)
    checkpoints = os.path.join(split, "checkpoints")
    for step in os.listdir(checkpoints):
        if step.isdigit() and int(step) > 1:
            shutil.rmtree(os.path.join(checkpoints, step))
    train(config, split, progress=False)


def check_samples(run, num: int = 3):
    samples = np.asarray(run.sample(jax.random.key(1), num))
    spec = data.spec(run.config)
    if spec.kind == "images":
        assert samples.shape == (num,) + spec.image_shape
        assert samples.min() >= 0.0 and samples.max() <= 1.0
    elif spec.kind == "tokens":  # token ids [num, length] in [0, vocabulary size)
        tokens = spec.fields["tokens"]
        assert samples.ndim == 2 and samples.shape[0] == num
        assert np.issubdtype(samples.dtype, np.integer)
        assert samples.min() >= tokens.low and samples.max() <= tokens.high
    else:
        assert samples.shape == (num, 2)
    assert np.all(np.isfinite(samples))


@pytest.mark.parametrize("family", FAMILIES)
def test_family_contract(family, tmp_path):
    config = build(family)
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    train(config, straight, progress=False)
    resume_from_first_checkpoint(straight, split, config)
    run = jaxgen.load(straight)
    assert run.step == 2
    leaves_equal(run.state, jaxgen.load(split).state)
    assert logged_rows(straight) == logged_rows(split)

    if run.family.sample is not None:
        check_samples(run)
    available = evaluations.shared_available(run)
    names = evaluations.resolve(run, None) + [
        n for n in evaluations.SAMPLE_METRICS if not available[n]]
    results = evaluations.evaluate(run, names, jax.random.key(0), EVAL_NUM)
    assert results, f"{family}: no evaluation ran"
    json.dumps(results)  # eval.json must be able to hold every value
    if "nll" in names:
        assert results["num_images"] == EVAL_NUM and np.isfinite(results["nll_nats"])
        assert results["likelihood_kind"] in registry.LIKELIHOOD_KINDS
    if run.family.pictures is not None:
        written = run.family.pictures(run, jax.random.key(0), str(tmp_path / "pictures"))
        assert written and all(os.path.isfile(p) for p in written)


IMAGE_FAMILIES = [f for f in FAMILIES
                  if data.kind(registry.get(f).default_config()) == "images"]


@pytest.mark.parametrize("family", IMAGE_FAMILIES)
def test_image_family_trains_on_32x32_rgb(family, tmp_path, rgb32_overrides):
    overrides = dict(rgb32_overrides)
    if registry.get(family).default_config().source != "single":
        # A two-dataset family (translators, domain adaptation): the folder on both sides.
        overrides.update(dataset_b="image_folder", data_path_b=overrides["data_path"])
    config = build(family, **overrides, steps=1, ckpt_every=1)
    train(config, str(tmp_path / "run"), progress=False)
    run = jaxgen.load(str(tmp_path / "run"))
    assert data.image_shape(run.config) == (32, 32, 3)
    if run.family.sample is not None:
        check_samples(run, 2)
