"""The pixelcnn / pixelrnn families through the engine and the command line:
what tests/test_contract.py does not cover (dropout keys on resume, the
networks' own training paths, conditioning, configs of the old layout)."""
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgen
from jaxgen import registry
from jaxgen.autoregressive import family as ar
from jaxgen.autoregressive import sampling, steps
from jaxgen.engine import config as config_lib
from jaxgen.engine import optim
from jaxgen.engine.loop import train
from jaxgen.engine.state import TrainState
from jaxgen.errors import ConfigError

from conftest import RGB32_DATASET, run_cli
from test_autoregressive import random_params
from test_engine import assert_same_state, train_rows
from tiny_configs import tiny_overrides

CONFIG_V1 = os.path.join(os.path.dirname(__file__), "data", "config_v1")


def tiny_ar(family="pixelcnn", **overrides):
    return config_lib.build_config(family, overrides=tiny_overrides(family, **overrides))


# ----------------------------------------------------------------- configs of version 1


def read_v1(family: str, **changes) -> dict:
    """The default config the old code saved for `family` (tests/data/config_v1)."""
    with open(os.path.join(CONFIG_V1, f"{family}.json")) as f:
        return {**json.load(f), **changes}


def assert_same_optimizer(old, new, grad_scale: float = 1.0, num_updates: int = 4) -> None:
    """Same optimizer-state structure and, on the same gradients, the same updates
    (`grad_scale` large enough to exercise a clip)."""
    params = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}
    old_state, new_state = old.init(params), new.init(params)
    assert jax.tree.structure(old_state) == jax.tree.structure(new_state)
    for t in range(num_updates):
        grads = jax.tree.map(lambda p: grad_scale * jnp.sin(p + t), params)
        old_updates, old_state = old.update(grads, old_state, params)
        new_updates, new_state = new.update(grads, new_state, params)
        for a, b in zip(jax.tree.leaves(old_updates), jax.tree.leaves(new_updates)):
            np.testing.assert_array_equal(a, b)


def assert_same_learning_rates(old_schedule, config, at_steps) -> None:
    """The completed config's learning rate equals the old one at every step in `at_steps`."""
    new_schedule = optim.learning_rate(config.optim, total_steps=config.steps)
    for t in at_steps:
        old = old_schedule(t) if callable(old_schedule) else old_schedule
        new = new_schedule(t) if callable(new_schedule) else new_schedule
        np.testing.assert_allclose(float(new), float(old), rtol=1e-7, err_msg=f"step {t}")


def old_ar_optimizer(saved):
    """What the pre-optim code built (its make_optimizer): (learning rate, optimizer)."""
    lr = saved["learning_rate"]
    if saved["decay_steps"]:
        lr = optax.cosine_decay_schedule(lr, saved["decay_steps"], alpha=0.1)
    adam = optax.adam(lr)
    if saved["grad_clip_norm"]:
        return lr, optax.chain(optax.clip_by_global_norm(saved["grad_clip_norm"]), adam)
    return lr, adam


@pytest.mark.parametrize("family", ["pixelcnn", "pixelrnn"])
@pytest.mark.parametrize("changes", [{}, {"decay_steps": 1500, "learning_rate": 2e-3},
                                     {"grad_clip_norm": 0.0}])
def test_version_1_configs_complete_to_the_old_optimizer(family, changes):
    saved = read_v1(family, **changes)
    config = config_lib.complete(saved, registry.get(family))
    assert config.hidden_channels == saved["channels"] and config.channels == 0
    old_lr, old = old_ar_optimizer(saved)
    assert_same_learning_rates(old_lr, config, [0, 1, 100, 750, 1499, 1500, 2999])
    assert_same_optimizer(old, steps.make_optimizer(config), grad_scale=1e3)


def as_version_1(config, old_to_new: dict, derived=None) -> dict:
    """`config` written as the old code wrote config.json: the keys of
    tests/data/config_v1/<family>.json, no config_version; `old_to_new` maps an
    old key to the new one holding its value, `derived` (flat -> dict) gives
    the old keys that are no plain rename."""
    flat = config_lib.flatten(config.to_dict())
    out = derived(flat) if derived else {}
    for key in read_v1(config.family):
        if key not in out:
            out[key] = flat[old_to_new.get(key, key)]
    assert set(out) == set(read_v1(config.family))
    return out


def check_resume_from_a_version_1_config(tmp_path, config, old_to_new, derived=None):
    """Train 2 steps; a copy keeping only checkpoint 1 and a config.json of
    version 1 resumes to the same state and the same logged metrics."""
    straight, old = str(tmp_path / "straight"), str(tmp_path / "old")
    train(config, straight, progress=False)
    shutil.copytree(straight, old)
    shutil.rmtree(os.path.join(old, "checkpoints", str(config.steps)))
    saved = as_version_1(config, old_to_new, derived)
    assert "config_version" not in saved
    with open(os.path.join(old, "config.json"), "w") as f:
        json.dump(saved, f)
    assert jaxgen.load(old).step == 1
    train(config, old, progress=False)  # reconcile_config reads the old keys
    assert_same_state(jaxgen.load(straight).state, jaxgen.load(old).state)
    assert train_rows(straight) == train_rows(old)


def test_a_run_saved_with_version_1_keys_resumes(tmp_path):
    config = tiny_ar(steps=2, **{"optim.schedule": "cosine", "optim.decay_steps": 5})
    check_resume_from_a_version_1_config(
        tmp_path, config,
        {"channels": "hidden_channels", "learning_rate": "optim.learning_rate",
         "grad_clip_norm": "optim.grad_clip_norm"},
        lambda flat: {"decay_steps": flat["optim.decay_steps"]})


# ----------------------------------------------------------------- training paths


def test_resumed_run_equals_uninterrupted_run_with_dropout(tmp_path):
    """Dropout keys come from fold_in(train key, step): resuming redraws them exactly."""
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    overrides = dict(dropout=0.3, ckpt_every=2)
    train(tiny_ar(steps=4, **overrides), straight, progress=False)
    train(tiny_ar(steps=2, **overrides), split, progress=False)
    train(tiny_ar(steps=4, **overrides), split, progress=False)
    assert_same_state(jaxgen.load(straight).state, jaxgen.load(split).state)
    assert train_rows(straight) == train_rows(split)


def test_cli_train_and_sample(tmp_path):
    """The user path: `jaxgen train` then `jaxgen sample` with the naive sampler
    (the bits/dim of `jaxgen eval`: tests/test_eval_runner.py)."""
    workdir = str(tmp_path / "run")
    args = [f"--config.{k}={v}" for k, v in tiny_overrides("pixelcnn").items()]
    run_cli("train", "pixelcnn", "--workdir", workdir, "--no-progress", *args,
            "--config.architecture=plain")
    assert os.path.exists(os.path.join(workdir, "samples", "final.png"))
    run_cli("sample", "--workdir", workdir, "--num", "3", "--out", str(tmp_path / "s.npy"),
            "--config.sampler=naive")
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (3, 28, 28, 1) and 0 <= samples.min() and samples.max() <= 1
    # Pixel values are exactly the 256 grey levels.
    np.testing.assert_allclose(samples * 255, np.round(samples * 255), atol=1e-4)


def test_training_with_a_bad_value_stops_before_any_step(tmp_path):
    with pytest.raises(ConfigError, match="architecture must be one of"):
        train(tiny_ar(architecture="deep"), str(tmp_path / "bad"), progress=False)
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
    # A uint8 image's probability is at most 1.
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
    state = TrainState.create(params, jax.jit(steps.make_optimizer(config).init)(params))
    step = jax.jit(lambda s, b: family.train_step(config, s, b, jax.random.key(1)))
    state, first = step(state, batch)
    state, second = step(state, batch)
    return shapes, first, second


def assert_the_gradient_changes_a_finite_loss(first, second):
    assert np.isfinite(float(first["loss"])) and float(first["grad_norm"]) > 0
    assert np.isfinite(float(second["loss"])) and float(second["loss"]) != float(first["loss"])


NO_CLIP = {"optim.grad_clip_norm": 0}  # clipping: one more reduction per parameter to compile


def test_pixelrnn_diagonal_family_builds_the_diagonal_bilstm_and_trains():
    """rnn = "diagonal" through the family: two directions' layers per layer,
    two train steps on 28x28 with a finite loss that the gradient changes."""
    config = tiny_ar("pixelrnn", rnn="diagonal", sampler="naive", batch_size=2, **NO_CLIP)
    shapes, first, second = two_train_steps_from_numpy_params(config)
    assert {"state_to_state_0", "state_to_state_1"} <= set(shapes.params["params"])  # 1 layer
    assert_the_gradient_changes_a_finite_loss(first, second)


def test_pixelcnn_pp_family_trains_and_refuses_the_cached_sampler():
    """PixelCNN++ (the 28 -> 14 -> 7 U-Net) through the family: two train
    steps, a finite loss whose gradient changes it. The cached sampler is
    refused up front (the naive one: test_autoregressive.py)."""
    config = tiny_ar(architecture="pixelcnn_pp", sampler="naive", batch_size=2, **NO_CLIP)
    _, first, second = two_train_steps_from_numpy_params(config)
    assert_the_gradient_changes_a_finite_loss(first, second)

    config.sampler = "cached"
    with pytest.raises(ConfigError, match="--config.sampler=naive"):
        ar.validate(config)


# ----------------------------------------------------------------- conditioning, shapes


def test_a_conditional_pixelcnn_reads_cond_as_class_labels():
    """cond None: one class per grid row (nn.conditioning.class_labels); an int
    class or a label array otherwise; the labels change the samples."""
    config = tiny_ar(conditional=True, architecture="plain")
    family = registry.get("pixelcnn")
    assert family.is_conditional(config) and not family.is_conditional(tiny_ar())
    batch = {"image": np.zeros((2, 28, 28, 1), np.uint8), "label": np.zeros(2, np.int32)}
    state = family.init(config, jax.random.key(0), batch)
    sample = jax.jit(lambda c: sampling.sample(config, state, jax.random.key(1), 4, c))
    rows = np.asarray(sample(jnp.array([0, 2, 5, 7])))  # class (i * 10) // 4 for sample i
    np.testing.assert_array_equal(np.asarray(sample(None)), rows)
    assert np.any(np.asarray(sample(jnp.full(4, 3))) != rows)


def test_network_evals_count_every_channel_value():
    family = registry.get("pixelcnn")
    assert family.network_evals(tiny_ar()) == 28 * 28
    assert family.network_evals(tiny_ar(dataset=RGB32_DATASET)) == 32 * 32 * 3
    assert family.kind_of_likelihood(tiny_ar()) == "exact"


@pytest.mark.parametrize("key,value,message", [
    ("architecture", "deep", "architecture must be one of"),
    ("head", "gaussian", "head must be one of"),
    ("sampler", "fast", "sampler must be one of"),
    ("first_kernel_size", 4, "first_kernel_size must be odd"),
    ("kernel_size", 2, "kernel_size must be odd"),
    ("dropout", 1.0, "dropout must be in"),
    ("hidden_channels", 0, "hidden_channels must be >= 1"),
    ("dataset", "moons", "needs a dataset of kind images"),
])
def test_bad_config_values_are_clear_errors(key, value, message):
    config = ar.default_config("pixelcnn")
    config[key] = value
    with pytest.raises(ConfigError, match=message):
        ar.validate(config)


def test_bad_optimizer_values_are_clear_errors():
    config = ar.default_config("pixelcnn")
    config.optim.learning_rate = 0.0
    with pytest.raises(ConfigError, match="optim.learning_rate must be > 0"):
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
