"""The `vqvae` family through the engine: both stages, resume, CLI, errors."""
import json
import os

import jax
import numpy as np
import pytest

import jaxgen
from jaxgen.engine import config as config_lib
from jaxgen.engine.keys import run_keys
from jaxgen.engine.loop import train
from jaxgen.errors import ConfigError
from jaxgen.vqvae import evaluation
from jaxgen.vqvae import family as vq

from conftest import run_cli
from test_engine import assert_same_state, train_rows

# Tiny networks: what is tested is the machinery, not the model.
TINY = {"hidden_channels": "(4, 4)", "num_res_blocks": "1", "code_dim": "3", "num_codes": "6",
        "batch_size": "8", "steps": "4", "log_every": "1", "eval_every": "2",
        "sample_every": "4", "ckpt_every": "2", "eval_batches": "1", "num_grid": "4"}
TINY_PRIOR = {"stage": "prior", "prior_channels": "4", "prior_layers": "1",
              "prior_head_hidden": "4", "prior_embedding": "3", "prior_first_kernel_size": "3"}


def tiny_config(**overrides):
    return config_lib.build_config("vqvae", overrides={**TINY, **{k: str(v) for k, v in
                                                                   overrides.items()}})


def tiny_prior_config(vq_workdir, **overrides):
    return tiny_config(**TINY_PRIOR, vq_workdir=vq_workdir, **overrides)


@pytest.fixture(scope="module", autouse=True)
def compilation_cache(tmp_path_factory):
    """A persistent compilation cache for this module only: the runs below
    compile the same programs again and again (a resumed run, a second
    process), and on a busy 2-core machine compiling is most of their time."""
    cache_dir = str(tmp_path_factory.mktemp("jax_cache"))
    names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
             "jax_persistent_cache_min_entry_size_bytes")
    saved = {name: getattr(jax.config, name) for name in names}
    for name, value in zip(names, (cache_dir, 0.0, 0)):
        jax.config.update(name, value)
    yield cache_dir
    for name, value in saved.items():
        jax.config.update(name, value)


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


def test_stage1_resumed_run_equals_uninterrupted_run(stage1, tmp_path):
    """The EMA codebook and usage statistics live in the state: resuming restores them."""
    split = str(tmp_path / "split")
    train(tiny_config(steps=2), split, progress=False)
    train(tiny_config(), split, progress=False)
    assert_same_state(jaxgen.load(stage1).state, jaxgen.load(split).state)
    assert train_rows(stage1) == train_rows(split)


def test_stage2_resumed_run_equals_uninterrupted_run(stage1, stage2, tmp_path):
    split = str(tmp_path / "split")
    train(tiny_prior_config(stage1, steps=2), split, progress=False)
    train(tiny_prior_config(stage1), split, progress=False)
    assert_same_state(jaxgen.load(stage2).state, jaxgen.load(split).state)
    assert train_rows(stage2) == train_rows(split)


def test_stage2_freezes_the_autoencoder_and_trains_the_prior(stage1, stage2):
    first, second = jaxgen.load(stage1), jaxgen.load(stage2)
    frozen = vq.vq_parts(second.config, second.state)
    assert_same_state(vq.vq_parts(first.config, first.state), frozen)
    rows = [r for r in train_rows(stage2) if r["split"] == "train"]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and all(np.isfinite(r["loss"]) for r in rows)


def test_stage1_logs_codebook_usage(stage1):
    rows = [r for r in train_rows(stage1) if r["split"] == "train"]
    for r in rows:  # 8 images x 64 positions, K = 6 codes
        assert 1.0 <= r["perplexity"] <= 6.0 + 1e-4 and 1 <= r["codes_used"] <= 6


def test_gradient_codebook_learns_by_gradient():
    """codebook_update='gradient': the codebook is a parameter and one step moves it."""
    config = tiny_config(codebook_update="gradient")
    state = jax.jit(lambda key, batch: vq.init(config, key, batch))(run_keys(0).init,
                                                                     _first_batch(config))
    assert "codebook" in state.params and "codebook" not in state.extra
    new_state, metrics = jax.jit(lambda s, b: vq.train_step(config, s, b, None))(
        state, _first_batch(config))
    assert np.isfinite(float(metrics["loss"]))
    assert not np.allclose(new_state.params["codebook"], state.params["codebook"])


def _first_batch(config):
    from jaxgen import data
    arrays = data.load_arrays(config, "train")
    return {name: a[:config.batch_size] for name, a in arrays.items()}


def test_samples_and_bound(stage1, stage2):
    """Samples are deterministic in the key and lie in [0, 1]; the naive and the
    cached sampler draw the same codes; log_likelihood is -(recon + prior)."""
    run = jaxgen.load(stage2)
    a, b = run.sample(jax.random.key(1), 3), run.sample(jax.random.key(1), 3)
    assert a.shape == (3, 28, 28, 1) and 0 <= float(a.min()) and float(a.max()) <= 1
    np.testing.assert_array_equal(a, b)
    naive = dict(run.config.to_dict(), sampler="naive")
    codes = [vq.sample_codes(c, run.state, jax.random.key(2), 2)
             for c in (run.config, config_lib.from_json(json.dumps(naive, default=list)))]
    np.testing.assert_array_equal(*codes)
    batch = _first_batch(run.config)
    terms = jax.jit(lambda s, b: vq.nll_terms(run.config, s, b))(run.state, batch)
    log_likelihood = jax.jit(lambda s, b: vq.log_likelihood(run.config, s, b, None))
    np.testing.assert_allclose(log_likelihood(run.state, batch),
                               -(terms["recon"] + terms["prior"]), rtol=1e-6)
    assert float(terms["prior"].min()) > 0 and float(terms["recon"].min()) > 0


def test_cli_train_and_sample(stage1, compilation_cache, tmp_path):
    workdir = str(tmp_path / "cli")
    args = [f"--config.{k}={v}" for k, v in {**TINY, **TINY_PRIOR, "steps": "2"}.items()]
    env = {"JAX_COMPILATION_CACHE_DIR": compilation_cache,
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    run_cli("train", "vqvae", "--workdir", workdir, "--no-progress", *args,
            f"--config.vq_workdir={stage1}", env=env)
    assert os.path.exists(os.path.join(workdir, "samples", "final.png"))
    run_cli("sample", "--workdir", workdir, "--num", "3", "--out", str(tmp_path / "s.npy"),
            env=env)
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (3, 28, 28, 1) and 0 <= samples.min() and samples.max() <= 1


def test_evaluations(stage2):
    run = jaxgen.load(stage2)
    results = evaluation.evaluate_bpd(run, jax.random.key(0), 16)
    assert results["prior"] == "pixelcnn" and results["num_images"] == 16
    np.testing.assert_allclose(results["bound_nats"],
                               results["recon_nats"] + results["prior_nats"], rtol=1e-6)
    np.testing.assert_allclose(results["bound_bpd"],
                               results["bound_nats"] / (784 * np.log(2)), rtol=1e-6)
    # The uniform prior costs 64 log K nats; K = 6.
    np.testing.assert_allclose(results["uniform_prior_bound_bpd"],
                               (results["recon_nats"] + 64 * np.log(6)) / (784 * np.log(2)),
                               rtol=1e-6)
    usage = evaluation.evaluate_codebook(run, jax.random.key(0), 16)
    assert 1 <= usage["test_perplexity"] <= 6 and 1 <= usage["test_codes_used"] <= 6


@pytest.mark.parametrize("overrides,message", [
    ({"stage": "both"}, "stage must be one of"),
    ({"codebook_update": "kmeans"}, "codebook_update must be one of"),
    ({"stage": "prior"}, "needs vq_workdir"),
    ({"num_codes": "1"}, "num_codes must be >= 2"),
    ({"ema_decay": "1.0"}, "ema_decay must be in"),
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
        vq.load_stage1(tiny_prior_config(stage2))
