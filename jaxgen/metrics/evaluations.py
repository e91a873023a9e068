"""The evaluations `jaxgen eval` offers every family, and the one place that runs them.

    nll          nll_nats, bpd, bpd_stderr, num_images, likelihood_kind   (runner.py;
                 `bpd` is an alias)                     families with a likelihood
                 (token windows: nll_nats_per_word, ppl_word, num_words)
    sample_time  images_per_sec, network_evals_per_image (runner.py)      families that sample
    fid          fid_TAG                          Frechet distance to the test split's features
    kid          kid_TAG_mean, kid_TAG_std        KID against the test split's features
    is           is_TAG_mean, is_TAG_std          Inception-style Score of the samples
    pr           precision_TAG, recall_TAG        k-NN manifold precision and recall (k = 3)
    classes      class_counts_TAG, class_kl_TAG   samples per class under the extractor's
                                                  classifier; KL of that histogram to uniform
    modes        modes_covered, high_quality, reverse_kl   2-D ring8 / grid25 runs

TAG is the extractor's name (`fmnist` for the shipped Fashion-MNIST CNN):
these are FID-FMNIST values, never Inception FIDs. The samples of the
sample metrics are drawn once and featurised once, however many are asked
for. Each evaluation's key is derived from its name, so a metric's value does
not depend on which other metrics are asked for in the same call.
"""
from __future__ import annotations

import zlib

import jax
import numpy as np

from jaxgen import data
from jaxgen.errors import JaxgenError
from jaxgen.metrics import runner
from jaxgen.metrics.extractor import load_extractor
from jaxgen.metrics.feature_distances import frechet_distance, kernel_inception_distance
from jaxgen.metrics.modes import toy_mode_coverage
from jaxgen.metrics.reference import reference_stats
from jaxgen.metrics.sample_quality import (class_histogram, inception_score, kl_to_uniform,
                                           precision_recall)

IMAGE_METRICS = ("fid", "kid", "is", "pr", "classes")
POINT_METRICS = ("modes",)
SAMPLE_METRICS = IMAGE_METRICS + POINT_METRICS
RUNNER_METRICS = ("nll", "sample_time")
SHARED = RUNNER_METRICS + SAMPLE_METRICS
ALIASES = {"bpd": "nll"}
SAMPLE_BATCH = 500
MODE_DATASETS = ("ring8", "grid25")


def metric_key(root, name: str):
    """The key of evaluation `name`: a function of the root key and the name alone."""
    return jax.random.fold_in(root, zlib.crc32(name.encode()) & 0x7FFFFFFF)


def shared_available(run) -> dict:
    """Shared evaluation name -> why it is unavailable for this run ("" if available)."""
    family, config = run.family, run.config
    samples = family.sample is not None
    kind = data.spec(config).kind
    out = {"nll": "" if family.kind_of_likelihood(config) else "the run has no likelihood",
           "sample_time": "" if samples else "the family does not sample"}
    for name in IMAGE_METRICS:
        out[name] = ("" if samples and kind == "images" else
                     "the family does not sample" if not samples else
                     f"the run samples {kind}, not images")
    out["modes"] = ("" if samples and config.dataset in MODE_DATASETS else
                    f"needs a run on {' or '.join(MODE_DATASETS)} (this run: {config.dataset})")
    return out


def resolve(run, requested) -> list:
    """The evaluation names to run, checked before any work starts.

    requested: names (aliases allowed), or None for the default set: the
    family's own evaluations but pictures, and the shared ones available.
    """
    own = run.family.evaluations
    available = shared_available(run)
    if requested is None:
        return ([m for m in own if m != "pictures"]
                + [m for m in RUNNER_METRICS if not available[m]])
    names, problems = [], []
    for name in requested:
        name = ALIASES.get(name, name)
        if name in available:
            if available[name]:
                problems.append(f"{name} ({available[name]})")
        elif name not in own:
            offered = list(own) + [m for m, why in available.items() if not why]
            problems.append(f"unknown metric {name!r} (this run offers {', '.join(offered)})")
        if name not in names:
            names.append(name)
    if problems:
        raise JaxgenError(f"cannot evaluate {run.config.family}: {'; '.join(problems)}")
    return names


def draw_samples(run, key, num: int, batch_size: int = SAMPLE_BATCH) -> np.ndarray:
    """`num` samples of the run in batches of one size (one compilation). [num, ...]"""
    size = min(batch_size, num)
    chunks = [np.asarray(jax.device_get(run.sample(jax.random.fold_in(key, i), size)))
              for i in range(-(-num // size))]
    return np.concatenate(chunks)[:num]


def image_metrics(names, samples, key, config, extractor) -> dict:
    """The requested image metrics of samples [N, H, W, C] in [0, 1]."""
    extractor.check_shape(samples.shape[1:])
    reference = reference_stats(extractor, config)
    probs, feats = extractor.featurise(samples)
    tag = extractor.name
    out = {}
    if "fid" in names:
        as_f64 = feats.astype(np.float64)
        out[f"fid_{tag}"] = float(frechet_distance(reference["mean"], reference["cov"],
                                                   as_f64.mean(0), np.cov(as_f64, rowvar=False)))
    if "kid" in names:
        mean, std = kernel_inception_distance(reference["features"], feats,
                                              key=metric_key(key, "kid"))
        out[f"kid_{tag}_mean"], out[f"kid_{tag}_std"] = float(mean), float(std)
    if "is" in names:
        mean, std = inception_score(probs)
        out[f"is_{tag}_mean"], out[f"is_{tag}_std"] = float(mean), float(std)
    if "pr" in names:
        # k-NN radii shrink as a set grows: compare sets of equal size.
        real = equal_size_subset(reference["features"], len(feats), metric_key(key, "pr"))
        precision, recall = precision_recall(real, feats)
        out[f"precision_{tag}"], out[f"recall_{tag}"] = float(precision), float(recall)
    if "classes" in names:
        counts = class_histogram(probs)
        out[f"class_counts_{tag}"] = [int(c) for c in counts]
        out[f"class_kl_{tag}"] = float(kl_to_uniform(counts))
    return out


def equal_size_subset(features, size: int, key) -> np.ndarray:
    if size >= len(features):
        return features
    return features[np.asarray(jax.random.permutation(key, len(features))[:size])]


def point_metrics(config, samples) -> dict:
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise JaxgenError(f"`modes` needs 2-D points, the run's samples have shape "
                          f"{samples.shape[1:]}")
    values = jax.device_get(toy_mode_coverage(config.dataset, samples))
    return {"modes_covered": int(values["modes_covered"]),
            "high_quality": float(values["high_quality"]),
            "reverse_kl": float(values["reverse_kl"])}


def evaluate_samples(run, key, num: int, names, extractor=None) -> dict:
    """Draw `num` samples once (from the key of "samples") and compute every
    requested sample metric."""
    if num < 2:
        raise JaxgenError(f"sample metrics need --num >= 2, got {num}")
    wanted_images = [n for n in names if n in IMAGE_METRICS]
    extractor = extractor if extractor is not None or not wanted_images else load_extractor()
    if extractor is not None and wanted_images:  # refuse before sampling, not after
        extractor.check_shape(data.image_shape(run.config))
    samples = draw_samples(run, metric_key(key, "samples"), num)
    out = {"num_samples": int(num)}
    if wanted_images:
        out.update(image_metrics(wanted_images, samples, key, run.config, extractor))
        out["extractor"] = extractor.source
    if "modes" in names:
        out.update(point_metrics(run.config, samples))
    return out


def evaluate(run, names, key, num: int, extractor=None, log=None) -> dict:
    """Run the (resolved) evaluations `names`; `log(message)` reports progress."""
    log = log or (lambda message: None)
    own = run.family.evaluations
    results = {}
    for name in names:
        if name in own and name not in SHARED:
            log(f"evaluating {name} ...")
            results.update(own[name](run, metric_key(key, name), num))
    for name, fn in (("nll", runner.evaluate_nll), ("sample_time", runner.evaluate_sample_time)):
        if name in names:
            log(f"evaluating {name} ...")
            results.update(fn(run, metric_key(key, name), num))
    wanted = [n for n in names if n in SAMPLE_METRICS]
    if wanted:
        log(f"evaluating {','.join(wanted)} on {num} samples ...")
        results.update(evaluate_samples(run, key, num, wanted, extractor))
    return results
