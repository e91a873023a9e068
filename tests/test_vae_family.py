"""The `vae` and `autoencoder` families: old configs, likelihood kinds, the IWAE
bound as the family computes it, and the `elbo` evaluation. (Init, training,
resume, sampling and every evaluation on tiny runs: tests/test_contract.py.)"""
import functools
import json
import os

import jax
import numpy as np
import optax
import pytest

import jaxgen
from jaxgen import data, registry
from jaxgen.engine import config as config_lib
from jaxgen.engine.loop import train
from jaxgen.engine.optim import make_optimizer
from jaxgen.errors import JaxgenError
from jaxgen.metrics import runner
from jaxgen.vae import evaluation, losses, sampling

from tiny_configs import tiny_overrides

CONFIG_V1 = os.path.join(os.path.dirname(__file__), "data", "config_v1")


def build(family="vae", **overrides):
    return config_lib.build_config(family, overrides=tiny_overrides(family, **overrides))


def saved_v1(family: str):
    with open(os.path.join(CONFIG_V1, f"{family}.json")) as f:
        return config_lib.from_json(f.read())


def optimizer_trajectory(optimizer, steps: int = 3):
    """Updates of `optimizer` on a fixed pytree for a few steps of fixed gradients."""
    params = {"w": np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3),
              "b": np.zeros(3, np.float32)}
    state = optimizer.init(params)
    out = []
    for step in range(steps):
        grads = jax.tree.map(lambda p: np.cos(p + step).astype(np.float32), params)
        updates, state = optimizer.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        out.append(updates)
    return state, out


@pytest.mark.parametrize("family", ["vae", "autoencoder"])
def test_a_v1_config_completes_to_the_old_optimizer(family):
    """The default config the old code saved (bare `optax.adam(learning_rate)`)
    gives the same optimizer: same state structure, the same updates."""
    config = config_lib.complete(saved_v1(family), registry.get(family))
    assert config.optim.learning_rate == 1e-3 and "learning_rate" not in config
    new_state, new = optimizer_trajectory(make_optimizer(config.optim, total_steps=config.steps))
    old_state, old = optimizer_trajectory(optax.adam(1e-3))
    assert jax.tree.structure(new_state) == jax.tree.structure(old_state)
    for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(old), strict=True):
        np.testing.assert_array_equal(a, b)


def v1_config_json(config) -> dict:
    """The config.json the old code would have written for `config`: flat
    learning_rate, no optim block, no config_version."""
    flat = json.loads(config_lib.to_json(config))
    flat["learning_rate"] = flat.pop("optim")["learning_rate"]
    del flat["config_version"]
    return flat


def test_a_run_saved_with_a_v1_config_resumes_exactly(tmp_path):
    """Train 1 step, rewrite config.json as the old code wrote it, train on to
    step 2: the same state and logs as an uninterrupted 2-step run."""
    config = build(steps=2, ckpt_every=1, eval_every=100, sample_every=100)
    straight, old = str(tmp_path / "straight"), str(tmp_path / "old")
    train(config, straight, progress=False)
    train(config_lib.apply_overrides(config, {"steps": 1}, from_string=False), old,
          progress=False)
    with open(os.path.join(old, "config.json"), "w") as f:
        json.dump(v1_config_json(config), f)
    train(config, old, progress=False)
    a, b = jaxgen.load(straight), jaxgen.load(old)
    assert b.step == 2
    for x, y in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_likelihood_kinds():
    vae, autoencoder = registry.get("vae"), registry.get("autoencoder")
    assert vae.kind_of_likelihood(build(likelihood="logistic")) == "bound"
    assert vae.kind_of_likelihood(build(likelihood="bernoulli")) is None
    assert autoencoder.kind_of_likelihood(build("autoencoder", likelihood="logistic")) is None


@pytest.fixture(scope="module")
def logistic_cvae(tmp_path_factory):
    """A freshly initialised conditional logistic VAE as a Run (no training needed)."""
    config = build(likelihood="logistic", conditional=True, iwae_samples=5, iwae_chunk_size=1)
    family = registry.get("vae")
    batch = {k: v[:8] for k, v in data.load_split(config, "test").items()}
    state = jax.jit(functools.partial(family.init, config))(jax.random.key(0), batch)
    return jaxgen.Run(workdir=str(tmp_path_factory.mktemp("cvae")), config=config,
                      family=family, state=state), batch


def test_chunked_iwae_of_the_family_equals_one_sample_at_a_time(logistic_cvae):
    run, batch = logistic_cvae
    key = jax.random.key(3)
    values = []
    for chunk in (1, 2, 5):
        config = config_lib.apply_overrides(run.config, {"iwae_chunk_size": chunk},
                                            from_string=False)
        values.append(jax.jit(lambda b: losses.iwae_log_likelihood(
            config, run.state.params, b, key))(batch))
    np.testing.assert_allclose(values[1], values[0], rtol=1e-6)
    np.testing.assert_allclose(values[2], values[0], rtol=1e-6)


def test_one_sample_iwae_estimates_the_elbo_of_the_training_objective(logistic_cvae):
    """K = 1 is an unbiased estimate of the ELBO (with a Monte Carlo KL): its mean
    over many keys matches the objective's ELBO (closed-form KL) mean."""
    run, batch = logistic_cvae
    config = config_lib.apply_overrides(run.config, {"iwae_samples": 1}, from_string=False)
    params = run.state.params
    bound = jax.jit(lambda k: losses.iwae_log_likelihood(config, params, batch, k))
    terms = jax.jit(lambda k: losses.elbo_terms(config, params, batch, k))
    keys = [jax.random.key(100 + i) for i in range(64)]
    iwae = np.stack([np.asarray(bound(k)) for k in keys])  # [64, B]
    elbo = np.stack([-np.asarray(t["recon"] + t["kl_per_dim"].sum(-1))
                     for t in map(terms, keys)])
    stderr = np.sqrt(iwae.var(0) / len(keys) + elbo.var(0) / len(keys))
    assert np.all(np.abs(iwae.mean(0) - elbo.mean(0)) < 5 * stderr + 1e-3)


def test_the_elbo_evaluation_goes_through_the_runner(logistic_cvae):
    run, _ = logistic_cvae
    results = evaluation.evaluate_elbo(run, jax.random.key(0), 6)
    assert results["num_images"] == 6 and len(results["kl_per_dim"]) == run.config.latent_dim
    np.testing.assert_allclose(results["elbo_nll_nats"],
                               results["recon_nats"] + results["kl_nats"], rtol=1e-6)
    # The first examples' values do not depend on how many are asked for.
    per_example = runner.per_example(
        jax.jit(lambda b, k: losses.elbo_terms(run.config, run.state.params, b, k)),
        data.load_split(run.config, "test"), jax.random.key(0), 6)
    np.testing.assert_allclose(results["recon_nats"], per_example["recon"].mean(), rtol=1e-9)


def test_conditional_samples_default_to_one_class_per_row(logistic_cvae):
    run, _ = logistic_cvae
    key, num = jax.random.key(1), 20  # K = 10 classes: rows of 2
    rows = np.repeat(np.arange(10), 2)
    np.testing.assert_array_equal(sampling.sample_labels(run.config, num), rows)
    np.testing.assert_array_equal(run.sample(key, num), run.sample(key, num, cond=rows))
    assert not np.array_equal(run.sample(key, num, cond=3), run.sample(key, num))


def test_nll_is_refused_for_a_bernoulli_vae():
    config = build(likelihood="bernoulli")
    run = jaxgen.Run(workdir="", config=config, family=registry.get("vae"), state=None)
    with pytest.raises(JaxgenError, match="no likelihood"):
        runner.require_likelihood(run)
