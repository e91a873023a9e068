"""Sample-based metrics for `jaxgen eval`, for every family that samples.

    fid    fid_fmnist                        Frechet distance to the test split's features
    kid    kid_fmnist_mean, kid_fmnist_std   KID against the test split's features
    is     is_fmnist_mean, is_fmnist_std     Inception-style Score of the samples
    pr     precision_fmnist, recall_fmnist   k-NN manifold precision and recall (k = 3)
    modes  modes_covered, high_quality, reverse_kl   2-D ring8 / grid25 runs

The samples are drawn once and featurised once, however many of these
metrics are asked for. The suffix is the extractor's name: these are
FID-FMNIST values, not Inception FIDs.
"""
from __future__ import annotations

import jax
import numpy as np

from jaxgen import data
from jaxgen.errors import JaxgenError
from jaxgen.metrics.extractor import load_extractor
from jaxgen.metrics.feature_distances import frechet_distance, kernel_inception_distance
from jaxgen.metrics.modes import toy_mode_coverage
from jaxgen.metrics.reference import reference_stats
from jaxgen.metrics.sample_quality import inception_score, precision_recall

IMAGE_METRICS = ("fid", "kid", "is", "pr")
POINT_METRICS = ("modes",)
SAMPLE_METRICS = IMAGE_METRICS + POINT_METRICS
SAMPLE_BATCH = 500
MODE_DATASETS = ("ring8", "grid25")
IMAGE_SHAPE = (28, 28, 1)


def draw_samples(run, key, num: int, batch_size: int = SAMPLE_BATCH) -> np.ndarray:
    """`num` samples of the run in batches of one size (one compilation). [num, ...]"""
    if run.family.sample is None:
        raise JaxgenError(f"family {run.config.family} does not sample, so it has no "
                          f"sample-based metrics ({', '.join(SAMPLE_METRICS)})")
    size = min(batch_size, num)
    chunks = [np.asarray(jax.device_get(run.sample(jax.random.fold_in(key, i), size)))
              for i in range(-(-num // size))]
    return np.concatenate(chunks)[:num]


def image_metrics(names, samples, key) -> dict:
    """The requested image metrics of samples [N, 28, 28, 1] in [0, 1]."""
    if samples.shape[1:] != IMAGE_SHAPE:
        raise JaxgenError(f"image metrics need images of shape {IMAGE_SHAPE}, the run's "
                          f"samples have shape {samples.shape[1:]}")
    extractor = load_extractor()
    reference = reference_stats(extractor)
    probs, feats = extractor.featurise(samples)
    tag = extractor.name
    out = {}
    if "fid" in names:
        as_f64 = feats.astype(np.float64)
        out[f"fid_{tag}"] = float(frechet_distance(reference["mean"], reference["cov"],
                                                   as_f64.mean(0), np.cov(as_f64, rowvar=False)))
    if "kid" in names:
        mean, std = kernel_inception_distance(reference["features"], feats,
                                              key=jax.random.fold_in(key, 1))
        out[f"kid_{tag}_mean"], out[f"kid_{tag}_std"] = float(mean), float(std)
    if "is" in names:
        mean, std = inception_score(probs)
        out[f"is_{tag}_mean"], out[f"is_{tag}_std"] = float(mean), float(std)
    if "pr" in names:
        # k-NN radii shrink as a set grows: compare sets of equal size.
        real = equal_size_subset(reference["features"], len(feats), jax.random.fold_in(key, 2))
        precision, recall = precision_recall(real, feats)
        out[f"precision_{tag}"], out[f"recall_{tag}"] = float(precision), float(recall)
    return out


def equal_size_subset(features, size: int, key) -> np.ndarray:
    if size >= len(features):
        return features
    return features[np.asarray(jax.random.permutation(key, len(features))[:size])]


def point_metrics(config, samples) -> dict:
    if config.dataset not in MODE_DATASETS:
        raise JaxgenError(f"`modes` needs a run on {' or '.join(MODE_DATASETS)}, this run "
                          f"uses {config.dataset!r}")
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise JaxgenError(f"`modes` needs 2-D points, the run's samples have shape "
                          f"{samples.shape[1:]}")
    values = jax.device_get(toy_mode_coverage(config.dataset, samples))
    return {"modes_covered": int(values["modes_covered"]),
            "high_quality": float(values["high_quality"]),
            "reverse_kl": float(values["reverse_kl"])}


def evaluate_samples(run, key, num: int, names) -> dict:
    """Draw `num` samples once and compute every requested sample metric."""
    unknown = [n for n in names if n not in SAMPLE_METRICS]
    if unknown:
        raise JaxgenError(f"unknown sample metric(s) {unknown}; known: {SAMPLE_METRICS}")
    if num < 2:
        raise JaxgenError(f"sample metrics need --num >= 2, got {num}")
    wanted_images = [n for n in names if n in IMAGE_METRICS]
    if wanted_images and data.is_toy(run.config.dataset):
        raise JaxgenError(f"{', '.join(wanted_images)} need an image run; this run samples "
                          f"2-D points ({run.config.dataset}); use `modes`")
    samples = draw_samples(run, key, num)
    out = {"num_samples": int(num)}
    if wanted_images:
        out.update(image_metrics(wanted_images, samples, jax.random.fold_in(key, 1)))
    if "modes" in names:
        out.update(point_metrics(run.config, samples))
    return out
