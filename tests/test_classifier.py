"""The classifier family: shapes, explicit keys, learning, the engine and the CLI."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgen
from jaxgen import cli, registry
from jaxgen.classifier import family as classifier
from jaxgen.engine.loop import train
from jaxgen.errors import JaxgenError

TINY = {"cnn_channels": "(4, 8, 8)", "feature_dim": "8", "mlp_hidden": "(16, 8)",
        "batch_size": "16", "steps": "4", "log_every": "2", "eval_every": "2",
        "sample_every": "4", "ckpt_every": "2", "eval_batches": "1"}


def tiny_config(**overrides):
    from jaxgen.engine import config as config_lib
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
    logits, features = classifier.apply_model(config, state.params, images)
    assert logits.shape == (3, 10) and features.shape == (3, feature_dim)


def test_dropout_and_flips_come_from_explicit_keys():
    config = tiny_config(model="cnn", dropout=0.5)
    state = classifier.init(config, jax.random.key(0), fake_batch())
    batch = fake_batch()
    loss = lambda k_drop, k_flip: classifier.cross_entropy_loss(  # noqa: E731
        config, state.params, batch, k_drop, k_flip)[0]
    k1, k2 = jax.random.key(1), jax.random.key(2)
    assert float(loss(k1, k1)) == float(loss(k1, k1))
    assert float(loss(k1, k1)) != float(loss(k2, k1))   # dropout mask follows its key
    assert float(loss(k1, k1)) != float(loss(k1, k2))   # flips follow theirs
    # Evaluation is deterministic whatever the key.
    assert classifier.eval_step(config, state, batch, k1) == classifier.eval_step(config, state,
                                                                                 batch, k2)


def test_random_hflip_mirrors_whole_images():
    images = jnp.arange(2 * 28 * 28, dtype=jnp.float32).reshape(2, 28, 28, 1)
    flipped = classifier.random_hflip(jax.random.key(0), images)
    for before, after in zip(images, flipped):
        assert (jnp.array_equal(after, before) or jnp.array_equal(after, before[:, ::-1]))


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_train_steps_fit_a_fixed_batch(model):
    config = tiny_config(model=model, dropout=0.0, hflip=False, learning_rate=1e-2, steps=30)
    batch = fake_batch()
    state = classifier.init(config, jax.random.key(0), batch)
    step = jax.jit(lambda s, k: classifier.train_step(config, s, batch, k))
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
    assert "unknown metric" in capsys.readouterr().err
