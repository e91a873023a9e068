"""The realnvp and glow families through the engine and the command line."""
import json
import os

import jax
import numpy as np
import pytest

import jaxgen
from jaxgen.engine import config as config_lib
from jaxgen.engine.loop import train
from jaxgen.errors import ConfigError
from jaxgen.flows import evaluation
from jaxgen.flows import family as flows

from conftest import run_cli
from test_engine import assert_same_state, train_rows

SCHEDULE = {"batch_size": "8", "log_every": "1", "eval_every": "2", "sample_every": "2",
            "ckpt_every": "2", "eval_batches": "1", "num_grid": "4"}
TINY_GLOW_IMAGES = {**SCHEDULE, "num_levels": "1", "steps_per_level": "1", "hidden": "4",
                    "num_blocks": "0", "warmup_steps": "0"}
TINY_TOY = {"toy_steps": "2", "hidden": "8", "batch_size": "16", "log_every": "2",
            "eval_every": "2", "sample_every": "2", "ckpt_every": "2", "eval_batches": "1",
            "steps": "4"}


def tiny(family, **overrides):
    values = dict(TINY_GLOW_IMAGES if family == "glow" else TINY_TOY)
    values.update({k: str(v) for k, v in overrides.items()})
    return config_lib.build_config(family, overrides=values)


def test_glow_on_images_resumes_exactly_and_evaluates(tmp_path):
    """Actnorm's data-dependent init and the 1x1 convs' constants (TrainState.extra)
    survive checkpointing: a resumed run equals the uninterrupted run."""
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    train(tiny("glow", steps=4), straight, progress=False)
    train(tiny("glow", steps=2), split, progress=False)
    train(tiny("glow", steps=4), split, progress=False)
    run = jaxgen.load(straight)
    assert_same_state(run.state, jaxgen.load(split).state)
    assert train_rows(straight) == train_rows(split)
    assert "constants" in run.state.extra

    rows = [r for r in train_rows(straight) if r["split"] == "train"]
    # bits/dim is the logged NLL in nats / (784 ln 2).
    np.testing.assert_allclose(rows[-1]["bpd"], rows[-1]["loss"] / (784 * np.log(2)), rtol=1e-5)
    images = np.asarray(run.sample(jax.random.key(0), 3))
    assert images.shape == (3, 28, 28, 1) and images.min() >= 0 and images.max() <= 1
    # 8-bit images: every value is a multiple of 1/255.
    np.testing.assert_allclose(images * 255, np.round(images * 255), atol=1e-4)
    result = evaluation.evaluate_nll(run, jax.random.key(1), 16)
    assert result["num_examples"] == 16 and np.isfinite(result["nll_nats"])
    np.testing.assert_allclose(result["nll_bpd"], result["nll_nats"] / (784 * np.log(2)))


def test_realnvp_on_moons_from_the_command_line(tmp_path):
    workdir = str(tmp_path / "moons")
    tiny_args = [f"--config.{k}={v}" for k, v in TINY_TOY.items()]
    run_cli("train", "realnvp", "--workdir", workdir, "--no-progress",
            "--config.dataset=moons", *tiny_args)
    run_cli("sample", "--workdir", workdir, "--num", "5", "--out", str(tmp_path / "s.npy"))
    points = np.load(tmp_path / "s.npy")
    assert points.shape == (5, 2) and np.all(np.isfinite(points))
    run_cli("eval", "--workdir", workdir, "--metrics", "nll,pictures", "--num", "100")
    results = json.load(open(os.path.join(workdir, "eval.json")))
    assert np.isfinite(results["nll_nats"]) and results["num_examples"] == 100
    assert os.path.getsize(os.path.join(workdir, "pictures", "density_moons.png")) > 1000


def test_log_likelihood_is_the_density_at_the_given_points():
    """log_likelihood of a 2-D run = log N(f(x)) + log|det df/dx| at exactly those points."""
    config = tiny("realnvp", dataset="ring8")
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.3, -2.0]], np.float32)
    state = flows.init(config, jax.random.key(0), {"point": points})
    got = flows.log_likelihood(config, state, {"point": points}, jax.random.key(1))
    # A fresh flow is the identity (zero-initialised last layers): the density is N(0, I).
    expected = -0.5 * np.sum(points ** 2, axis=1) - np.log(2 * np.pi)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("family,key,value,message", [
    ("realnvp", "logit_alpha", "0.5", "logit_alpha"),
    ("glow", "num_levels", "3", "odd size"),
    ("glow", "temperature", "0.0", "temperature"),
    ("realnvp", "hidden", "0", "hidden"),
    ("glow", "conv", "cudnn", "conv must be one of"),
    ("glow", "dequantization", "gaussian", "dequantization must be one of"),
    ("realnvp", "deq_hidden", "0", "deq_hidden"),
])
def test_bad_config_values_are_clear_errors(family, key, value, message):
    with pytest.raises(ConfigError, match=message):
        flows.validate(tiny(family, **{key: value}))


def test_variational_dequantization_is_for_images_only():
    with pytest.raises(ConfigError, match="2-D data are continuous"):
        flows.validate(tiny("realnvp", dataset="moons", dequantization="variational"))


def test_glow_with_variational_dequantization_trains_the_flow_and_q_together(tmp_path):
    """The trained params hold both networks, both move, and sampling and the
    evaluation go through the flow alone."""
    config = tiny("glow", steps=2, dequantization="variational", deq_hidden=4,
                  deq_couplings=1)
    workdir = str(tmp_path / "vdeq")
    batch = {"image": np.full((8, 28, 28, 1), 100, np.uint8)}
    fresh = flows.init(config, jax.random.key(config.seed), batch)
    train(config, workdir, progress=False)
    run = jaxgen.load(workdir)
    assert set(run.state.params) == {"flow", "dequantizer"}
    # Both networks were trained: the kernels that start at exactly zero (every
    # conditioner's output conv, whatever the key) no longer are.
    for part in ("flow", "dequantizer"):
        zero_kernels = [jax.tree_util.keystr(path)
                        for path, a in jax.tree_util.tree_leaves_with_path(fresh.params[part])
                        if jax.tree_util.keystr(path).endswith("['kernel']") and not np.any(a)]
        trained = {jax.tree_util.keystr(path): a
                   for path, a in jax.tree_util.tree_leaves_with_path(run.state.params[part])}
        assert zero_kernels, part
        assert all(np.any(np.asarray(trained[k]) != 0) for k in zero_kernels), part
    images = np.asarray(run.sample(jax.random.key(0), 2))
    assert images.shape == (2, 28, 28, 1)
    result = evaluation.evaluate_nll(run, jax.random.key(1), 16)
    assert np.isfinite(result["nll_nats"])
    assert result["dequantization"] == "variational, 1 draw per image"
