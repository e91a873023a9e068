"""The pixelcnn / pixelrnn families through the engine and the command line."""
import json
import os

import jax
import numpy as np
import pytest

import jaxgen
from jaxgen import registry
from jaxgen.autoregressive import family as ar
from jaxgen.engine import config as config_lib
from jaxgen.engine.loop import train
from jaxgen.engine.state import TrainState
from jaxgen.errors import ConfigError

from conftest import run_cli
from test_autoregressive import random_params
from test_engine import assert_same_state, train_rows

TINY_AR = {"hidden_channels": "4", "num_layers": "1", "head_hidden": "0", "num_mixtures": "2",
           "batch_size": "4", "log_every": "1", "eval_every": "2", "sample_every": "1000",
           "ckpt_every": "2", "eval_batches": "1", "num_grid": "2"}


def tiny_ar(family="pixelcnn", **overrides):
    values = {**TINY_AR, **{k: str(v) for k, v in overrides.items()}}
    return config_lib.build_config(family, overrides=values)


def test_resumed_run_equals_uninterrupted_run_with_dropout(tmp_path):
    """Dropout keys come from fold_in(train key, step): resuming redraws them exactly."""
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    overrides = dict(dropout=0.3)
    train(tiny_ar(steps=4, **overrides), straight, progress=False)
    train(tiny_ar(steps=2, **overrides), split, progress=False)
    train(tiny_ar(steps=4, **overrides), split, progress=False)
    assert_same_state(jaxgen.load(straight).state, jaxgen.load(split).state)
    assert train_rows(straight) == train_rows(split)


def test_cli_train_sample_eval(tmp_path):
    workdir = str(tmp_path / "run")
    args = [f"--config.{k}={v}" for k, v in TINY_AR.items()]
    run_cli("train", "pixelcnn", "--workdir", workdir, "--no-progress", *args,
            "--config.steps=2", "--config.architecture=plain")
    assert os.path.exists(os.path.join(workdir, "samples", "final.png"))
    run_cli("sample", "--workdir", workdir, "--num", "3", "--out", str(tmp_path / "s.npy"),
            "--config.sampler=naive")
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (3, 28, 28, 1) and 0 <= samples.min() and samples.max() <= 1
    # Pixel values are exactly the 256 grey levels.
    np.testing.assert_allclose(samples * 255, np.round(samples * 255), atol=1e-4)

    run_cli("eval", "--workdir", workdir, "--metrics", "bpd", "--num", "20")
    results = json.load(open(os.path.join(workdir, "eval.json")))
    assert results["num_images"] == 20 and results["bpd"] > 0
    np.testing.assert_allclose(results["bpd"], results["nll_nats"] / (784 * np.log(2)), rtol=1e-6)



def test_training_with_a_bad_value_stops_before_any_step(tmp_path):
    with pytest.raises(ConfigError, match="architecture must be one of"):
        train(tiny_ar(architecture="deep", steps=2), str(tmp_path / "bad"), progress=False)
    assert not os.path.exists(tmp_path / "bad" / "checkpoints")


def test_pixelrnn_family_trains_and_its_likelihood_is_the_eval_loss():
    config = tiny_ar("pixelrnn", batch_size=2)
    family = registry.get("pixelrnn")
    batch = {"image": np.random.default_rng(0).integers(0, 256, (2, 28, 28, 1), np.uint8),
             "label": np.zeros(2, np.int32)}
    state = family.init(config, jax.random.key(0), batch)
    step = jax.jit(lambda s, b: family.train_step(config, s, b, jax.random.key(1)))
    new_state, metrics = step(state, batch)
    assert np.isfinite(float(metrics["loss"]))
    log_p = family.log_likelihood(config, new_state, batch, None)
    evaluated = family.eval_step(config, new_state, batch, None)
    np.testing.assert_allclose(-float(np.mean(log_p)), float(evaluated["loss"]), rtol=1e-5)
    # A uint8 image's probability is at most 1 and above uniform-at-random's floor.
    assert np.all(np.asarray(log_p) < 0)


def two_train_steps_from_numpy_params(config):
    """Two jitted train steps of `config` on 28x28 random images: (param
    shapes, metrics of the first step, of the second). Compiling family.init
    would cost more than the train step (one random initialiser per
    parameter), so the shapes come from eval_shape and the values from NumPy."""
    family = registry.get(config.family)
    batch = {"image": np.random.default_rng(0).integers(0, 256, (2, 28, 28, 1), np.uint8),
             "label": np.zeros(2, np.int32)}
    shapes = jax.eval_shape(lambda k, b: family.init(config, k, b), jax.random.key(0), batch)
    params = random_params(shapes.params)
    state = TrainState.create(params, jax.jit(ar.make_optimizer(config).init)(params))
    step = jax.jit(lambda s, b: family.train_step(config, s, b, jax.random.key(1)))
    state, first = step(state, batch)
    state, second = step(state, batch)
    return shapes, first, second


def assert_the_gradient_changes_a_finite_loss(first, second):
    assert np.isfinite(float(first["loss"])) and float(first["grad_norm"]) > 0
    assert np.isfinite(float(second["loss"])) and float(second["loss"]) != float(first["loss"])


def test_pixelrnn_diagonal_family_builds_the_diagonal_bilstm_and_trains():
    """rnn = "diagonal" through the family: two directions' layers per layer,
    two train steps on 28x28 with a finite loss that the gradient changes."""
    config = tiny_ar("pixelrnn", rnn="diagonal", sampler="naive", batch_size=2,
                     grad_clip_norm=0)  # clipping: one more reduction per parameter to compile
    shapes, first, second = two_train_steps_from_numpy_params(config)
    assert {"state_to_state_0", "state_to_state_1"} <= set(shapes.params["params"])  # 1 layer
    assert_the_gradient_changes_a_finite_loss(first, second)


def test_pixelcnn_pp_family_trains_and_refuses_the_cached_sampler():
    """PixelCNN++ (the 28 -> 14 -> 7 U-Net) through the family: two train
    steps, a finite loss whose gradient changes it. The cached sampler is
    refused up front (the naive one: test_autoregressive.py)."""
    config = tiny_ar(architecture="pixelcnn_pp", sampler="naive", batch_size=2,
                     grad_clip_norm=0)
    _, first, second = two_train_steps_from_numpy_params(config)
    assert_the_gradient_changes_a_finite_loss(first, second)

    config.sampler = "cached"
    with pytest.raises(ConfigError, match="--config.sampler=naive"):
        ar.validate(config)


@pytest.mark.parametrize("key,value,message", [
    ("architecture", "deep", "architecture must be one of"),
    ("head", "gaussian", "head must be one of"),
    ("sampler", "fast", "sampler must be one of"),
    ("first_kernel_size", 4, "first_kernel_size must be odd"),
    ("kernel_size", 2, "kernel_size must be odd"),
    ("dropout", 1.0, "dropout must be in"),
    ("hidden_channels", 0, "hidden_channels must be >= 1"),
    ("dataset", "moons", "needs an image dataset"),
])
def test_bad_config_values_are_clear_errors(key, value, message):
    config = ar.default_config("pixelcnn")
    config[key] = value
    with pytest.raises(ConfigError, match=message):
        ar.validate(config)


@pytest.mark.parametrize("rnn,sampler,message", [
    ("column", "naive", "rnn must be one of"),
    ("diagonal", "cached", "--config.sampler=naive"),  # the default sampler
])
def test_bad_pixelrnn_configs_are_clear_errors(rnn, sampler, message):
    config = ar.default_config("pixelrnn")
    config.rnn, config.sampler = rnn, sampler
    with pytest.raises(ConfigError, match=message):
        ar.validate(config)
