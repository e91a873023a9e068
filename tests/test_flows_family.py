"""The realnvp and glow families through the engine and the command line:
what tests/test_contract.py does not cover (bits/dim over H * W * C against a
closed form, 2-D densities, variational dequantization, configs of the old
layout)."""
import json
import math
import os

import jax
import numpy as np
import optax
import pytest
from scipy.stats import norm

import jaxgen
from jaxgen import registry
from jaxgen.engine import config as config_lib
from jaxgen.engine.loop import train
from jaxgen.errors import ConfigError
from jaxgen.flows import family as flows
from jaxgen.flows import losses, steps
from jaxgen.metrics import runner

from conftest import RGB32_DATASET, run_cli
from test_autoregressive_family import (assert_same_learning_rates, assert_same_optimizer,
                                        check_resume_from_a_version_1_config, read_v1)
from tiny_configs import tiny_overrides

TINY_TOY = {"toy_steps": "2", "hidden": "8", "batch_size": "16"}


def tiny(family, **overrides):
    return config_lib.build_config(family, overrides=tiny_overrides(family, **overrides))


def tiny_toy(family, **overrides):
    return tiny(family, **{**TINY_TOY, "dataset": "moons", **overrides})


# ----------------------------------------------------------------- configs of version 1


def old_flow_optimizer(saved):
    """What the pre-optim code built (its make_optimizer): (schedule, optimizer)."""
    schedule = optax.linear_schedule(0.0, saved["learning_rate"], max(saved["warmup_steps"], 1))
    return schedule, optax.chain(optax.clip_by_global_norm(saved["grad_clip"]),
                                 optax.adam(schedule))


@pytest.mark.parametrize("family", ["realnvp", "glow"])
@pytest.mark.parametrize("changes", [{}, {"warmup_steps": 0}, {"warmup_steps": 1},
                                     {"learning_rate": 3e-4, "grad_clip": 5.0}])
def test_version_1_configs_complete_to_the_old_optimizer(family, changes):
    saved = read_v1(family, **changes)
    config = config_lib.complete(saved, registry.get(family))
    old_schedule, old = old_flow_optimizer(saved)
    assert_same_learning_rates(old_schedule, config, [0, 1, 2, 100, 199, 200, 201, 2999])
    assert_same_optimizer(old, steps.make_optimizer(config), grad_scale=1e3)


def test_a_run_saved_with_version_1_keys_resumes(tmp_path):
    config = tiny_toy("realnvp", **{"optim.warmup_steps": 3})
    check_resume_from_a_version_1_config(
        tmp_path, config, {"learning_rate": "optim.learning_rate",
                           "grad_clip": "optim.grad_clip_norm",
                           "warmup_steps": "optim.warmup_steps"})


# ----------------------------------------------------------------- likelihoods


def test_the_likelihood_of_a_fresh_realnvp_is_the_closed_form_on_rgb_images():
    """Zero-initialised couplings: the flow is the identity, so with the noise
    u the family draws, log P(x) >= sum over the H * W * C values of
    log N(z) + log|dz/dy| - log 256, z the logit of y = (x + u) / 256; the
    logged bits/dim divide the loss by H * W * C ln 2."""
    config = tiny("realnvp", dataset=RGB32_DATASET)
    rng = np.random.default_rng(0)
    batch = {"image": rng.integers(0, 256, (2, 32, 32, 3)).astype(np.uint8)}
    state = flows.init(config, jax.random.key(0), batch)
    key = jax.random.key(5)
    got = np.asarray(steps.log_likelihood(config, state, batch, key))

    u = np.asarray(jax.random.uniform(key, batch["image"].shape), np.float64)
    alpha = config.logit_alpha
    q = alpha + (1 - 2 * alpha) * (batch["image"] + u) / 256.0
    z = np.log(q) - np.log1p(-q)
    log_dz_dy = np.log(1 - 2 * alpha) - np.log(q) - np.log1p(-q)
    expected = (norm.logpdf(z) + log_dz_dy - np.log(256)).reshape(2, -1).sum(1)
    np.testing.assert_allclose(got, expected, rtol=1e-5)

    loss, metrics = losses.loss_fn(config, state.params, state.extra, batch, key)
    np.testing.assert_allclose(float(metrics["bpd"]),
                               -expected.mean() / (32 * 32 * 3 * math.log(2)), rtol=1e-5)
    assert registry.get("realnvp").kind_of_likelihood(config) == "dequantized bound"


def test_log_likelihood_is_the_density_at_the_given_points():
    """log_likelihood of a 2-D run = log N(f(x)) + log|det df/dx| at exactly those points."""
    config = tiny_toy("realnvp", dataset="ring8")
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.3, -2.0]], np.float32)
    state = flows.init(config, jax.random.key(0), {"point": points})
    got = steps.log_likelihood(config, state, {"point": points}, jax.random.key(1))
    # A fresh flow is the identity (zero-initialised last layers): the density is N(0, I).
    expected = -0.5 * np.sum(points ** 2, axis=1) - np.log(2 * np.pi)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert registry.get("realnvp").kind_of_likelihood(config) == "exact"


def test_realnvp_on_moons_from_the_command_line(tmp_path):
    workdir = str(tmp_path / "moons")
    args = [f"--config.{k}={v}" for k, v in tiny_overrides("realnvp", **TINY_TOY).items()]
    run_cli("train", "realnvp", "--workdir", workdir, "--no-progress",
            "--config.dataset=moons", *args)
    run_cli("sample", "--workdir", workdir, "--num", "5", "--out", str(tmp_path / "s.npy"))
    points = np.load(tmp_path / "s.npy")
    assert points.shape == (5, 2) and np.all(np.isfinite(points))
    run_cli("eval", "--workdir", workdir, "--metrics", "nll,pictures", "--num", "100")
    results = json.load(open(os.path.join(workdir, "eval.json")))
    assert np.isfinite(results["nll_nats"]) and results["num_images"] == 100
    assert results["likelihood_kind"] == "exact" and "bpd" not in results
    assert os.path.getsize(os.path.join(workdir, "pictures", "density_moons.png")) > 1000


# ----------------------------------------------------------------- configuration


@pytest.mark.parametrize("family,key,value,message", [
    ("realnvp", "logit_alpha", "0.5", "logit_alpha"),
    ("glow", "num_levels", "3", "divisible by 8"),
    ("glow", "temperature", "0.0", "temperature"),
    ("realnvp", "hidden", "0", "hidden"),
    ("glow", "conv", "cudnn", "conv must be one of"),
    ("glow", "dequantization", "gaussian", "dequantization must be one of"),
    ("realnvp", "deq_hidden", "0", "deq_hidden"),
    ("realnvp", "optim.warmup_steps", "-1", "optim.warmup_steps must be >= 0"),
])
def test_bad_config_values_are_clear_errors(family, key, value, message):
    with pytest.raises(ConfigError, match=message):
        flows.validate(tiny(family, **{key: value}))


def test_levels_must_fit_the_datasets_images():
    """32x32: glow's 6 levels squeeze 6 times, one too many; 5 fit."""
    with pytest.raises(ConfigError, match="'test_rgb32' images 32x32x3.*divisible by 64"):
        flows.validate(tiny("glow", dataset=RGB32_DATASET, num_levels=6))
    flows.validate(tiny("glow", dataset=RGB32_DATASET, num_levels=5))


def test_variational_dequantization_is_for_images_only():
    with pytest.raises(ConfigError, match="2-D data are continuous"):
        flows.validate(tiny_toy("realnvp", dequantization="variational"))


def test_glow_with_variational_dequantization_trains_the_flow_and_q_together(tmp_path):
    """The trained params hold both networks, both move, and sampling and the
    evaluation go through the flow alone."""
    config = tiny("glow", dequantization="variational", deq_hidden=4, deq_couplings=1)
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
    # 8-bit images: every value is a multiple of 1/255.
    np.testing.assert_allclose(images * 255, np.round(images * 255), atol=1e-4)
    result = runner.evaluate_nll(run, jax.random.key(1), 16)
    assert np.isfinite(result["nll_nats"]) and result["likelihood_kind"] == "dequantized bound"
    np.testing.assert_allclose(result["bpd"], result["nll_nats"] / (784 * np.log(2)))

