"""The one test-set runner (jaxgen.metrics.runner) and the shared `nll`
evaluation on a trained pixelcnn run.

Regression test of `jaxgen eval --metrics bpd --num N`: the family's own
bits/dim once summed a whole 250-image batch and divided by N (12.5x the
true NLL at --num 20). Now bits/dim is the shared `nll`, and for N = 7 (less
than a batch), 250 (one batch) and 1000 (four) it must agree with a
brute-force loop over the images one at a time.
"""
import dataclasses
import functools
import json
import math
import os

import jax
import numpy as np
import pytest
from scipy import stats

import jaxgen
from jaxgen import data
from jaxgen.engine import config as config_lib
from jaxgen.engine.loop import train
from jaxgen.metrics import runner

from conftest import run_cli
from tiny_configs import tiny_overrides

NUM_BRUTE_FORCE = 1000
DIMS = 28 * 28  # bits/dim of a Fashion-MNIST image: per 8-bit value


@pytest.fixture(scope="module")
def pixelcnn_run(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("eval_runner") / "pixelcnn")
    config = config_lib.build_config("pixelcnn", overrides=tiny_overrides("pixelcnn", steps=1))
    train(config, workdir, progress=False)
    return jaxgen.load(workdir)


@pytest.fixture(scope="module")
def brute_force_nats(pixelcnn_run):
    """-log p(x) in nats of each of the first 1000 test images, one image per call."""
    run = pixelcnn_run
    test = data.load_split(run.config, "test")
    log_likelihood = jax.jit(functools.partial(run.family.log_likelihood, run.config, run.state))
    return np.array([-float(log_likelihood({k: v[i:i + 1] for k, v in test.items()},
                                           jax.random.key(0))[0])
                     for i in range(NUM_BRUTE_FORCE)])


def assert_matches_brute_force(result: dict, nats, num: int) -> None:
    nats = np.asarray(nats[:num], np.float64)
    assert result["num_images"] == num and result["likelihood_kind"] == "exact"
    np.testing.assert_allclose(result["nll_nats"], nats.mean(), rtol=1e-5)
    np.testing.assert_allclose(result["bpd"], nats.mean() / (DIMS * math.log(2)), rtol=1e-5)
    if num > 1:
        np.testing.assert_allclose(result["nll_nats_stderr"], stats.sem(nats), rtol=1e-3)
        np.testing.assert_allclose(result["bpd_stderr"],
                                   stats.sem(nats) / (DIMS * math.log(2)), rtol=1e-3)


@pytest.mark.parametrize("num", [7, 250, 1000])
def test_nll_of_the_first_num_test_images_is_the_brute_force_mean(pixelcnn_run,
                                                                 brute_force_nats, num):
    result = runner.evaluate_nll(pixelcnn_run, jax.random.key(0), num)
    assert_matches_brute_force(result, brute_force_nats, num)


def test_jaxgen_eval_bpd_on_the_command_line_is_the_brute_force_mean(pixelcnn_run,
                                                                    brute_force_nats):
    """The user's path: `jaxgen eval --metrics bpd --num 7` (a part of one batch)."""
    run_cli("eval", "--workdir", pixelcnn_run.workdir, "--metrics", "bpd", "--num", "7")
    with open(os.path.join(pixelcnn_run.workdir, "eval.json")) as f:
        assert_matches_brute_force(json.load(f), brute_force_nats, 7)


def test_the_nll_compiles_the_likelihood_once_for_any_num(pixelcnn_run):
    """Every batch has the runner's one shape, the last padded: one trace of
    the family's log_likelihood for 1000 images (four batches) as for 7."""
    traced = []

    def counting_log_likelihood(config, state, batch, key):
        traced.append(batch["image"].shape)  # runs once per trace, not per call
        return pixelcnn_run.family.log_likelihood(config, state, batch, key)

    family = dataclasses.replace(pixelcnn_run.family, log_likelihood=counting_log_likelihood)
    run = dataclasses.replace(pixelcnn_run, family=family)
    for num in (7, 1000):
        traced.clear()
        runner.evaluate_nll(run, jax.random.key(0), num)
        assert traced == [(runner.EVAL_BATCH, 28, 28, 1)], num


# ----------------------------------------------------------------- the runner itself


def toy_arrays(num: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(num, 3)).astype(np.float32),
            "label": rng.integers(0, 10, num).astype(np.int32)}


def per_row(batch, key):
    """A per-example function that also reads its batch's key."""
    return {"value": batch["x"].sum(axis=1) * 2.0 + jax.random.uniform(key, ()),
            "label": batch["label"]}


def test_padded_masked_batches_give_the_values_of_unpadded_ones():
    """13 examples in batches of 5: the padded last batch's real rows equal an
    unpadded call on the same rows with the same key, fold_in(key, batch index);
    fewer examples give a prefix of the same values; num past the end stops there."""
    arrays, key, size = toy_arrays(13), jax.random.key(3), 5
    got = runner.per_example(jax.jit(per_row), arrays, key, 13, batch_size=size)
    for name in ("value", "label"):
        expected = np.concatenate([
            np.asarray(per_row({k: v[start:start + size] for k, v in arrays.items()},
                               jax.random.fold_in(key, i))[name], np.float64)
            for i, start in enumerate(range(0, 13, size))])
        np.testing.assert_allclose(got[name], expected, rtol=1e-6)  # eager vs jitted float32
        assert got[name].dtype == np.float64
    shorter = runner.per_example(jax.jit(per_row), arrays, key, 8, batch_size=size)
    np.testing.assert_array_equal(shorter["value"], got["value"][:8])
    beyond = runner.per_example(jax.jit(per_row), arrays, key, 100, batch_size=size)
    np.testing.assert_array_equal(beyond["value"], got["value"])


def test_one_compilation_for_any_num():
    traces = []

    @jax.jit
    def fn(batch, key):
        traces.append(batch["x"].shape)  # Python runs only when jax traces
        return per_row(batch, key)

    arrays = toy_arrays(1000)
    for num in (1, 7, 250, 251, 999, 1000):
        values = runner.per_example(fn, arrays, jax.random.key(0), num)
        assert len(values["value"]) == num
    assert traces == [(runner.EVAL_BATCH, 3)]


def test_standard_error_is_numpys():
    values = np.random.default_rng(1).exponential(size=37)
    mean, stderr = runner.mean_and_stderr(values)
    assert mean == pytest.approx(np.mean(values), rel=1e-12)
    assert stderr == pytest.approx(np.std(values, ddof=1) / math.sqrt(37), rel=1e-12)
    assert stderr == pytest.approx(stats.sem(values), rel=1e-12)
    assert math.isnan(runner.mean_and_stderr(values[:1])[1])
