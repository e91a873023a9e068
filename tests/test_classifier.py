"""The classifier family: shapes, explicit keys, learning, the engine and the CLI,
the accuracy evaluation against a direct computation, configs of the old layout."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgen
from jaxgen import cli, data, registry
from jaxgen.classifier import evaluation, losses, steps
from jaxgen.classifier import family as classifier
from jaxgen.engine import config as config_lib
from jaxgen.engine.loop import train
from jaxgen.errors import ConfigError, JaxgenError
from jaxgen.nn.classifier import apply_model

from conftest import RGB32_DATASET
from test_autoregressive_family import (assert_same_learning_rates, assert_same_optimizer,
                                        check_resume_from_a_version_1_config, read_v1)

TINY = {"cnn_channels": "(4, 8, 8)", "feature_dim": "8", "mlp_hidden": "(16, 8)",
        "batch_size": "16", "steps": "4", "log_every": "2", "eval_every": "2",
        "sample_every": "4", "ckpt_every": "2", "eval_batches": "1"}


def tiny_config(**overrides):
    values = dict(TINY, **{k: str(v) for k, v in overrides.items()})
    return config_lib.build_config("classifier", overrides=values)


def fake_batch(batch_size=16, seed=0):
    rng = np.random.default_rng(seed)
    return {"image": rng.integers(0, 256, (batch_size, 28, 28, 1), dtype=np.uint8),
            "label": rng.integers(0, 10, batch_size).astype(np.int32)}


@pytest.mark.parametrize("model, feature_dim", [("mlp", 8), ("cnn", 8)])
def test_models_give_logits_and_penultimate_features(model, feature_dim):
    config = tiny_config(model=model)
    state = classifier.init(config, jax.random.key(0), fake_batch())
    images = jnp.zeros((3, 28, 28, 1))
    logits, features = apply_model(config, state.params, images)
    assert logits.shape == (3, 10) and features.shape == (3, feature_dim)


def test_dropout_and_flips_come_from_explicit_keys():
    config = tiny_config(model="cnn", dropout=0.5)
    state = classifier.init(config, jax.random.key(0), fake_batch())
    batch = fake_batch()
    loss = lambda k_drop, k_flip: losses.cross_entropy_loss(  # noqa: E731
        config, state.params, batch, k_drop, k_flip)[0]
    k1, k2 = jax.random.key(1), jax.random.key(2)
    assert float(loss(k1, k1)) == float(loss(k1, k1))
    assert float(loss(k1, k1)) != float(loss(k2, k1))   # dropout mask follows its key
    assert float(loss(k1, k1)) != float(loss(k1, k2))   # flips follow theirs
    # Evaluation is deterministic whatever the key.
    assert steps.eval_step(config, state, batch, k1) == steps.eval_step(config, state, batch, k2)


def test_random_hflip_mirrors_whole_images():
    images = jnp.arange(2 * 28 * 28, dtype=jnp.float32).reshape(2, 28, 28, 1)
    flipped = losses.random_hflip(jax.random.key(0), images)
    for before, after in zip(images, flipped):
        assert (jnp.array_equal(after, before) or jnp.array_equal(after, before[:, ::-1]))


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_train_steps_fit_a_fixed_batch(model):
    config = tiny_config(model=model, dropout=0.0, hflip=False, steps=30,
                         **{"optim.learning_rate": 1e-2})
    batch = fake_batch()
    state = classifier.init(config, jax.random.key(0), batch)
    step = jax.jit(lambda s, k: steps.train_step(config, s, batch, k))
    first = None
    for i in range(30):
        state, metrics = step(state, jax.random.key(i))
        first = first if first is not None else float(metrics["loss"])
    assert float(metrics["loss"]) < 0.7 * first


def test_bad_model_name_is_a_config_error():
    with pytest.raises(JaxgenError, match="model must be one of"):
        classifier.init(tiny_config(model="resnet"), jax.random.key(0), fake_batch())


def test_classifier_registers_without_a_sampler():
    family = registry.get("classifier")
    assert family.sample is None and "accuracy" in family.evaluations


def test_engine_trains_and_cli_evaluates_a_classifier(tmp_path, capsys):
    workdir = str(tmp_path / "run")
    train(tiny_config(model="mlp"), workdir, progress=False)
    run = jaxgen.load(workdir)
    assert run.step == 4 and run.family.name == "classifier"
    assert cli.main(["eval", "--workdir", workdir, "--num", "200"]) == 0
    assert "test_accuracy" in capsys.readouterr().out
    results = json.load(open(os.path.join(workdir, "eval.json")))
    assert results["num_images"] == 200 and 0.0 <= results["test_accuracy"] <= 1.0
    # A classifier has no samples, so no sample-based metrics.
    assert cli.main(["eval", "--workdir", workdir, "--metrics", "fid"]) == 2
    assert "fid (the family does not sample)" in capsys.readouterr().err


def test_accuracy_is_that_of_the_predictions_on_the_first_num_test_images(tmp_path):
    """Through the runner (padded batches): the fraction and the per-class
    fractions of a direct prediction of the first `num` test images."""
    train(tiny_config(model="mlp", steps=2), str(tmp_path / "run"), progress=False)
    run = jaxgen.load(str(tmp_path / "run"))
    num = 7
    result = evaluation.test_accuracy(run, jax.random.key(0), num)
    test = data.load_split(run.config, "test")
    logits, _ = apply_model(run.config, run.state.params, test["image"][:num] / 255.0)
    correct = np.asarray(jnp.argmax(logits, -1)) == test["label"][:num]
    assert result["num_images"] == num and result["test_accuracy"] == pytest.approx(correct.mean())
    for k, name in enumerate(data.FASHION_MNIST_CLASSES):
        in_class = test["label"][:num] == k
        if in_class.any():
            assert result[f"accuracy_{name}"] == pytest.approx(correct[in_class].mean())
        else:
            assert f"accuracy_{name}" not in result


def test_a_classifier_takes_the_shape_and_classes_of_its_dataset():
    config = tiny_config(dataset=RGB32_DATASET)
    batch = data.load_split(config, "test")
    state = classifier.init(config, jax.random.key(0), {k: v[:4] for k, v in batch.items()})
    logits, _ = apply_model(config, state.params, jnp.zeros((2, 32, 32, 3)))
    assert logits.shape == (2, data.num_classes(config))
    # Three 2x2 pools need sides divisible by 8: 28 is not.
    with pytest.raises(ConfigError, match="divisible by 8; 'fashion_mnist' images are 28x28"):
        classifier.validate(tiny_config(cnn_channels="(4, 4, 4, 4)"))
    classifier.validate(tiny_config(model="mlp", cnn_channels="(4, 4, 4, 4)"))


def test_a_dataset_of_points_is_refused():
    with pytest.raises(ConfigError, match="classifier needs a dataset of kind images"):
        classifier.validate(tiny_config(dataset="moons"))


def old_classifier_optimizer(saved):
    """What the pre-optim code built (its make_optimizer): (schedule, optimizer)."""
    decay_steps = saved["decay_steps"] or saved["steps"]
    schedule = optax.cosine_decay_schedule(saved["learning_rate"], max(decay_steps, 1))
    return schedule, optax.adamw(schedule, weight_decay=saved["weight_decay"])


@pytest.mark.parametrize("changes", [{}, {"decay_steps": 1000}, {"steps": 0},
                                     {"weight_decay": 0.0, "learning_rate": 1e-3}])
def test_version_1_configs_complete_to_the_old_optimizer(changes):
    saved = read_v1("classifier", **changes)
    config = config_lib.complete(saved, registry.get("classifier"))
    old_schedule, old = old_classifier_optimizer(saved)
    assert_same_optimizer(old, steps.make_optimizer(config))
    # The run's steps reach the schedule as at least 1, as the old max(., 1) did.
    config.steps = max(config.steps, 1)
    assert_same_learning_rates(old_schedule, config, [0, 1, 2, 500, 999, 1000, 2345, 4690])


def test_a_run_saved_with_version_1_keys_resumes(tmp_path):
    # One log line per step: a resumed run's first line averages only the steps it ran.
    config = tiny_config(model="mlp", steps=2, ckpt_every=1, log_every=1)
    check_resume_from_a_version_1_config(
        tmp_path, config, {"learning_rate": "optim.learning_rate",
                           "decay_steps": "optim.decay_steps",
                           "weight_decay": "optim.weight_decay"})
