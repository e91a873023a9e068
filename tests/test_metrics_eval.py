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
from tiny_configs import tiny_overrides
from jaxgen.engine.config import build_config

NUM_REAL = 1000  # test images used as the reference set here: fast, and enough


@pytest.fixture
def small_reference(tmp_path, monkeypatch):
    """Reference statistics of the first NUM_REAL test images, cached under tmp_path."""
    monkeypatch.setenv(reference.CACHE_DIR_ENV, str(tmp_path / "cache"))
    full = reference.real_images
    monkeypatch.setattr(reference, "real_images",
                        lambda config, split: full(config, split)[:NUM_REAL])


FMNIST = reference.dataset_config("fashion_mnist")


def test_shipped_extractor_passes_its_checksum_and_classifies():
    fmnist = load_extractor()
    assert fmnist.name == "fmnist" and fmnist.sha256 == extractor.FMNIST_SHA256
    arrays = data.load_split(FMNIST, "test")
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
    path = reference.cache_path(fmnist, FMNIST, "test")
    assert os.path.exists(path) and fmnist.sha256[:16] in path
    assert stats["features"].shape[0] == NUM_REAL
    np.testing.assert_array_equal(reference.reference_stats(fmnist)["cov"], stats["cov"])


def test_fid_ranks_real_halves_above_noised_images(small_reference):
    """Extractor sanity: two halves of the test set are close; noise moves them apart."""
    fmnist = load_extractor()
    images = reference.real_images(FMNIST, "test")
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
    sample_batch = {name: a[:8] for name, a in data.load_split(config, "test").items()}
    run = Run(workdir=str(tmp_path), config=config, family=family,
              state=jax.jit(functools.partial(family.init, config))(jax.random.key(0),
                                                                   sample_batch))
    monkeypatch.setattr(jaxgen, "load", lambda workdir, overrides=None, step=None: run)
    return run


def test_eval_reports_sample_metrics_of_a_vae_run(untrained_vae_run, small_reference, capsys):
    workdir = untrained_vae_run.workdir
    assert cli.main(["eval", "--workdir", workdir, "--metrics", "elbo,fid,kid,is,pr,classes",
                     "--num", "60"]) == 0
    results = json.load(open(os.path.join(workdir, "eval.json")))
    for name in ("elbo_nll_nats", "fid_fmnist", "kid_fmnist_mean", "kid_fmnist_std",
                 "is_fmnist_mean", "is_fmnist_std", "precision_fmnist", "recall_fmnist"):
        assert np.isfinite(results[name]), name
    assert results["num_samples"] == 60 and 1.0 <= results["is_fmnist_mean"] <= 10.0
    assert 0.0 <= results["precision_fmnist"] <= 1.0
    counts = results["class_counts_fmnist"]
    assert len(counts) == 10 and sum(counts) == 60
    assert 0.0 <= results["class_kl_fmnist"] <= np.log(10) + 1e-6
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
    run = types.SimpleNamespace(family=registry.get("classifier"),
                                config=build_config("classifier",
                                                    overrides=tiny_overrides("classifier")))
    with pytest.raises(JaxgenError, match="does not sample"):
        evaluations.resolve(run, ["fid"])


def test_a_metric_does_not_depend_on_the_others_asked_for(untrained_vae_run, small_reference):
    """Each evaluation's key comes from its name: FID alone equals FID beside KID."""
    key = jax.random.key(3)
    alone = evaluations.evaluate(untrained_vae_run, ["fid"], key, 40)
    together = evaluations.evaluate(untrained_vae_run, ["kid", "fid", "elbo"], key, 40)
    assert alone["fid_fmnist"] == together["fid_fmnist"]


def test_unavailable_metrics_are_refused_before_any_work(untrained_vae_run):
    calls = []
    run = types.SimpleNamespace(**{**vars(untrained_vae_run),
                                   "sample": lambda *a, **k: calls.append(a)})
    with pytest.raises(JaxgenError, match="ring8 or grid25"):
        evaluations.resolve(run, ["fid", "modes"])
    with pytest.raises(JaxgenError, match="unknown metric 'fdi'"):
        evaluations.resolve(run, ["fdi"])
    # bpd is an alias of nll, which a Bernoulli VAE does not have.
    with pytest.raises(JaxgenError, match="nll"):
        evaluations.resolve(run, ["bpd"])
    assert not calls


def classifier_extractor(shape=(28, 28, 1), **data_overrides):
    """An (untrained) classifier run's extractor: what --extractor WORKDIR builds."""
    config = build_config("classifier", overrides=tiny_overrides("classifier", **data_overrides))
    batch = {"image": np.zeros((8,) + shape, np.uint8), "label": np.zeros(8, np.int32)}
    state = registry.get("classifier").init(config, jax.random.key(0), batch)
    return extractor.extractor_from_classifier(config, state.params, shape, source="test")


def test_another_extractor_names_its_metrics(untrained_vae_run, small_reference):
    results = evaluations.evaluate(untrained_vae_run, ["fid"], jax.random.key(0), 20,
                                   extractor=classifier_extractor())
    assert np.isfinite(results["fid_fashion_mnist"]) and "fid_fmnist" not in results
    assert results["extractor"] == "test"


def test_images_of_another_shape_are_refused_not_resized(untrained_vae_run, rgb32_overrides):
    rgb = classifier_extractor((32, 32, 3), **rgb32_overrides)
    with pytest.raises(JaxgenError, match=r"takes images of shape \(32, 32, 3\)"):
        evaluations.evaluate(untrained_vae_run, ["fid"], jax.random.key(0), 20, extractor=rgb)


def test_sample_metrics_at_intervals_during_training_carry_the_training_seconds(
        tmp_path, small_reference):
    from jaxgen.engine.loop import train
    from jaxgen.engine.logging import parse_row
    overrides = tiny_overrides("gan", steps=6, metrics_every=3, metrics="fid,classes",
                               metrics_num=20)
    workdir = str(tmp_path / "run")
    train(build_config("gan", overrides=overrides), workdir, progress=False)
    rows = [parse_row(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    measured = [r for r in rows if r["split"] == "metrics"]
    assert [r["step"] for r in measured] == [3, 6]
    for row in measured:
        assert np.isfinite(row["fid_fmnist"]) and sum(row["class_counts_fmnist"]) == 20
    seconds = [r["train_seconds"] for r in rows if "train_seconds" in r]
    assert seconds == sorted(seconds) and seconds[0] > 0
    # An unknown metric is refused before any step is trained.
    bad = tiny_overrides("gan", metrics_every=3, metrics="fid,nonsense")
    with pytest.raises(JaxgenError, match="nonsense"):
        train(build_config("gan", overrides=bad), str(tmp_path / "bad"), progress=False)
    assert not os.path.exists(tmp_path / "bad" / "checkpoints")
