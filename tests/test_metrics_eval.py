"""The shipped extractor, the reference cache and `jaxgen eval`'s sample metrics."""
import functools
import json
import os
import types

import jax
import ml_collections
import numpy as np
import pytest

import jaxgen
from jaxgen import cli, data, registry
from jaxgen.engine.run import Run
from jaxgen.errors import JaxgenError
from jaxgen.metrics import evaluations, extractor, frechet_distance, load_extractor, reference

from conftest import tiny_config

NUM_REAL = 1000  # test images used as the reference set here: fast, and enough


@pytest.fixture
def small_reference(tmp_path, monkeypatch):
    """Reference statistics of the first NUM_REAL test images, cached under tmp_path."""
    monkeypatch.setenv(reference.CACHE_DIR_ENV, str(tmp_path / "cache"))
    full = reference.real_images
    monkeypatch.setattr(reference, "real_images",
                        lambda dataset, split: full(dataset, split)[:NUM_REAL])


def test_shipped_extractor_passes_its_checksum_and_classifies():
    fmnist = load_extractor()
    assert fmnist.name == "fmnist" and fmnist.sha256 == extractor.FMNIST_SHA256
    arrays = data.load_arrays(ml_collections.ConfigDict({"dataset": "fashion_mnist"}), "test")
    images = arrays["image"][:500].astype(np.float32) / 255.0
    logits, features = fmnist(images)
    assert logits.shape == (500, 10) and features.shape[0] == 500
    assert np.mean(np.argmax(logits, -1) == arrays["label"][:500]) > 0.9


def test_damaged_weights_are_refused(tmp_path):
    with open(extractor.FMNIST_WEIGHTS, "rb") as f:
        raw = bytearray(f.read())
    raw[len(raw) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.msgpack"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(JaxgenError, match="sha256"):
        load_extractor(str(damaged), extractor.FMNIST_SHA256)


def test_weights_round_trip_through_msgpack():
    fmnist = load_extractor()
    params, config = extractor.deserialize_weights(
        extractor.serialize_weights(fmnist.params, fmnist.config))
    assert config.to_dict() == fmnist.config.to_dict()
    jax.tree.map(np.testing.assert_array_equal, params, fmnist.params)


def test_reference_stats_are_cached_per_extractor(small_reference):
    fmnist = load_extractor()
    stats = reference.reference_stats(fmnist)
    path = reference.cache_path(fmnist, "fashion_mnist", "test")
    assert os.path.exists(path) and fmnist.sha256[:16] in path
    assert stats["features"].shape[0] == NUM_REAL
    np.testing.assert_array_equal(reference.reference_stats(fmnist)["cov"], stats["cov"])


def test_fid_ranks_real_halves_above_noised_images(small_reference):
    """Extractor sanity: two halves of the test set are close; noise moves them apart."""
    fmnist = load_extractor()
    images = reference.real_images("fashion_mnist", "test")
    noisy = np.clip(images + 0.3 * np.random.default_rng(0).normal(size=images.shape), 0, 1)

    def stats(x):
        feats = fmnist.featurise(x)[1].astype(np.float64)
        return feats.mean(0), np.cov(feats, rowvar=False)

    first, second = stats(images[:500]), stats(images[500:])
    fid_halves = float(frechet_distance(*first, *second))
    fid_noise = float(frechet_distance(*first, *stats(noisy[500:])))
    assert fid_halves < 0.2 * fid_noise


@pytest.fixture
def untrained_vae_run(tmp_path, monkeypatch):
    """A freshly initialised tiny VAE as a run that `jaxgen eval` loads from tmp_path
    (what is tested is the metric plumbing, not training, so no training is paid for)."""
    config = tiny_config()
    family = registry.get("vae")
    sample_batch = {name: a[:8] for name, a in data.load_arrays(config, "test").items()}
    run = Run(workdir=str(tmp_path), config=config, family=family,
              state=jax.jit(functools.partial(family.init, config))(jax.random.key(0),
                                                                   sample_batch))
    monkeypatch.setattr(jaxgen, "load", lambda workdir, overrides=None, step=None: run)
    return run


def test_eval_reports_sample_metrics_of_a_vae_run(untrained_vae_run, small_reference, capsys):
    workdir = untrained_vae_run.workdir
    assert cli.main(["eval", "--workdir", workdir, "--metrics", "elbo,fid,kid,is,pr",
                     "--num", "60"]) == 0
    results = json.load(open(os.path.join(workdir, "eval.json")))
    for name in ("elbo_nll_nats", "fid_fmnist", "kid_fmnist_mean", "kid_fmnist_std",
                 "is_fmnist_mean", "is_fmnist_std", "precision_fmnist", "recall_fmnist"):
        assert np.isfinite(results[name]), name
    assert results["num_samples"] == 60 and 1.0 <= results["is_fmnist_mean"] <= 10.0
    assert 0.0 <= results["precision_fmnist"] <= 1.0
    # `modes` belongs to 2-D runs: a clear error for an image run.
    assert cli.main(["eval", "--workdir", workdir, "--metrics", "modes", "--num", "10"]) == 2
    assert "ring8 or grid25" in capsys.readouterr().err


def test_modes_metric_of_points_from_a_run():
    config = ml_collections.ConfigDict({"dataset": "grid25"})
    from jaxgen.data import toy2d
    points = np.repeat(toy2d.mode_centers("grid25")[:20], 3, axis=0)
    values = evaluations.point_metrics(config, points)
    assert values["modes_covered"] == 20 and values["high_quality"] == 1.0
    assert values["reverse_kl"] == pytest.approx(np.log(25 / 20), rel=1e-5)


def test_families_that_do_not_sample_have_no_sample_metrics():
    run = types.SimpleNamespace(family=types.SimpleNamespace(sample=None),
                                config=ml_collections.ConfigDict({"family": "classifier"}))
    with pytest.raises(JaxgenError, match="does not sample"):
        evaluations.draw_samples(run, jax.random.key(0), 10)
