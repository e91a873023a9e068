"""The `vqvae` family's two stages through the engine: the prior on a frozen
stage-1 run, its resume, the CLI, old configs, errors. (Stage 1's init,
training, resume, samples and evaluations: tests/test_contract.py.)"""
import os

import jax
import numpy as np
import optax
import pytest

import jaxgen
from jaxgen import data, registry
from jaxgen.engine import config as config_lib
from jaxgen.engine.keys import run_keys
from jaxgen.engine.loop import train
from jaxgen.engine.optim import make_optimizer
from jaxgen.errors import ConfigError
from jaxgen.vqvae import evaluation, sampling, steps
from jaxgen.vqvae import family as vq

from conftest import run_cli
from test_engine import assert_same_state, train_rows
from test_vae_family import optimizer_trajectory, saved_v1
from tiny_configs import tiny_overrides

TINY_PRIOR = {"stage": "prior", "prior_channels": "4", "prior_layers": "1",
              "prior_head_hidden": "4", "prior_embedding": "3", "prior_first_kernel_size": "3"}


def tiny_config(**overrides):
    values = tiny_overrides("vqvae", **{"steps": 4, "ckpt_every": 2, "sample_every": 4,
                                        **overrides})
    return config_lib.build_config("vqvae", overrides=values)


def tiny_prior_config(vq_workdir, **overrides):
    return tiny_config(**TINY_PRIOR, vq_workdir=vq_workdir, **overrides)


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    """A 4-step stage-1 run (EMA codebook) that the other tests build on."""
    workdir = str(tmp_path_factory.mktemp("vq") / "stage1")
    train(tiny_config(), workdir, progress=False)
    return workdir


@pytest.fixture(scope="module")
def stage2(stage1, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("vq") / "prior")
    train(tiny_prior_config(stage1), workdir, progress=False)
    return workdir


def test_stage2_resumed_run_equals_uninterrupted_run(stage1, stage2, tmp_path):
    split = str(tmp_path / "split")
    train(tiny_prior_config(stage1, steps=2), split, progress=False)
    train(tiny_prior_config(stage1), split, progress=False)
    assert_same_state(jaxgen.load(stage2).state, jaxgen.load(split).state)
    assert train_rows(stage2) == train_rows(split)


def test_stage2_freezes_the_autoencoder_and_trains_the_prior(stage1, stage2):
    first, second = jaxgen.load(stage1), jaxgen.load(stage2)
    frozen = steps.vq_parts(second.config, second.state)
    assert_same_state(steps.vq_parts(first.config, first.state), frozen)
    rows = [r for r in train_rows(stage2) if r["split"] == "train"]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and all(np.isfinite(r["loss"]) for r in rows)


def test_stage1_logs_codebook_usage(stage1):
    rows = [r for r in train_rows(stage1) if r["split"] == "train"]
    for r in rows:  # 8 images x 64 positions, K = 6 codes
        assert 1.0 <= r["perplexity"] <= 6.0 + 1e-4 and 1 <= r["codes_used"] <= 6


def _first_batch(config):
    arrays = data.load_split(config, "train")
    return {name: a[:config.batch_size] for name, a in arrays.items()}


def test_gradient_codebook_learns_by_gradient():
    """codebook_update='gradient': the codebook is a parameter and one step moves it."""
    config = tiny_config(codebook_update="gradient")
    family = registry.get("vqvae")
    state = jax.jit(lambda key, batch: family.init(config, key, batch))(run_keys(0).init,
                                                                         _first_batch(config))
    assert "codebook" in state.params and "codebook" not in state.extra
    new_state, metrics = jax.jit(lambda s, b: family.train_step(config, s, b, None))(
        state, _first_batch(config))
    assert np.isfinite(float(metrics["loss"]))
    assert not np.allclose(new_state.params["codebook"], state.params["codebook"])


def test_samples_bound_and_network_evals(stage1, stage2):
    """Samples are deterministic in the key and lie in [0, 1]; the naive and the
    cached sampler draw the same codes; log_likelihood is -(recon + prior)."""
    run = jaxgen.load(stage2)
    a, b = run.sample(jax.random.key(1), 3), run.sample(jax.random.key(1), 3)
    assert a.shape == (3, 28, 28, 1) and 0 <= float(a.min()) and float(a.max()) <= 1
    np.testing.assert_array_equal(a, b)
    naive = config_lib.apply_overrides(run.config, {"sampler": "naive"})
    codes = [sampling.sample_codes(c, run.state, jax.random.key(2), 2)
             for c in (run.config, naive)]
    assert codes[0].shape == (2, 8, 8)  # 28 -> 32 padded, / 4
    np.testing.assert_array_equal(*codes)
    batch = _first_batch(run.config)
    terms = jax.jit(lambda s, b: steps.nll_terms(run.config, s, b))(run.state, batch)
    log_likelihood = jax.jit(lambda s, b: run.family.log_likelihood(run.config, s, b, None))
    np.testing.assert_allclose(log_likelihood(run.state, batch),
                               -(terms["recon"] + terms["prior"]), rtol=1e-6)
    assert float(terms["prior"].min()) > 0 and float(terms["recon"].min()) > 0
    assert run.family.network_evals(run.config) == 64  # one per code position
    assert run.family.network_evals(jaxgen.load(stage1).config) == 1


def test_cli_samples_the_prior_stage(stage2, tmp_path):
    """Stage 2 through the command line (stage 1's CLI path is the engine's test)."""
    run_cli("sample", "--workdir", stage2, "--num", "3", "--out", str(tmp_path / "s.npy"))
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (3, 28, 28, 1) and 0 <= samples.min() and samples.max() <= 1


def test_own_evaluations(stage2):
    run = jaxgen.load(stage2)
    results = evaluation.evaluate_bound_terms(run, jax.random.key(0), 16)
    assert results["prior"] == "pixelcnn" and results["num_images"] == 16
    np.testing.assert_allclose(results["bound_nats"],
                               results["recon_nats"] + results["prior_nats"], rtol=1e-6)
    # The uniform prior costs 64 log K nats; K = 6.
    np.testing.assert_allclose(results["uniform_prior_bound_nats"],
                               results["recon_nats"] + 64 * np.log(6), rtol=1e-6)
    usage = evaluation.evaluate_codebook(run, jax.random.key(0), 16)
    assert 1 <= usage["test_perplexity"] <= 6 and 1 <= usage["test_codes_used"] <= 6


def test_a_v1_config_completes_to_the_old_optimizer_and_codebook_keys():
    """The old default: chain(clip_by_global_norm(1.0), adam(1e-3)); ema_decay was
    the codebook's (now codebook_decay), `channels` the widths."""
    config = config_lib.complete(saved_v1("vqvae"), registry.get("vqvae"))
    assert (config.optim.learning_rate, config.optim.grad_clip_norm) == (1e-3, 1.0)
    assert (config.codebook_decay, config.codebook_epsilon) == (0.99, 1e-5)
    assert tuple(config.hidden_channels) == (32, 64) and config.channels == 0
    old = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
    new_state, new = optimizer_trajectory(make_optimizer(config.optim, total_steps=config.steps))
    old_state, old = optimizer_trajectory(old)
    assert jax.tree.structure(new_state) == jax.tree.structure(old_state)
    for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(old), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("overrides,message", [
    ({"stage": "both"}, "stage must be one of"),
    ({"codebook_update": "kmeans"}, "codebook_update must be one of"),
    ({"stage": "prior"}, "needs vq_workdir"),
    ({"num_codes": "1"}, "num_codes must be >= 2"),
    ({"codebook_decay": "1.0"}, "codebook_decay must be in"),
    ({"optim.grad_clip_norm": "-1.0"}, "optim.grad_clip_norm must be >= 0"),
    ({"prior_kernel_size": "2"}, "prior_kernel_size must be odd"),
    ({"prior_architecture": "pixelcnn_pp", "sampler": "cached"}, "--config.sampler=naive"),
    ({"sampler": "fast"}, "sampler must be one of"),
])
def test_bad_config_values_are_clear_errors(overrides, message):
    config = tiny_config(**overrides)
    with pytest.raises(ConfigError, match=message):
        vq.validate(config)


def test_prior_must_repeat_the_autoencoder_architecture(stage1, stage2, tmp_path):
    with pytest.raises(ConfigError, match="num_codes: stage 1 has 6"):
        train(tiny_prior_config(stage1, num_codes=8), str(tmp_path / "bad"), progress=False)
    with pytest.raises(ConfigError, match="not a vqvae run with stage 'autoencoder'"):
        steps.load_stage1(tiny_prior_config(stage2))
    with pytest.raises(ConfigError, match="vq_workdir=.* is not a directory"):
        steps.load_stage1(tiny_prior_config(str(tmp_path / "missing")))
