"""Reference statistics of a real split, cached on disk.

    python -m jaxgen.metrics.reference [--split test] [--dataset fashion_mnist]

Featurises every image of the split with the extractor and stores the
features (for KID and precision/recall), their mean and covariance (for FID)
and the class probabilities (for IS of real data) in one .npz file. The file
name holds the dataset's identity (its name, and a hash of its data keys for
a user's folder), the split and the extractor's sha256, so new weights or
other images never reuse old statistics. `jaxgen eval` builds the file on
first use and reads it afterwards.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import ml_collections
import numpy as np

from jaxgen import data
from jaxgen.metrics.extractor import Extractor, load_extractor

CACHE_DIR_ENV = "JAXGEN_CACHE_DIR"
DEFAULT_CACHE_DIR = "~/.cache/jaxgen/metrics"


def cache_dir() -> str:
    return os.path.expanduser(os.environ.get(CACHE_DIR_ENV, DEFAULT_CACHE_DIR))


def data_identity(config) -> str:
    """The run's real data as a file-name part: the dataset name, plus a short
    hash of the data keys (folder, size, channels, composition) when any is set."""
    keys = {k: config.get(k) for k in ("source", "dataset_b", "data_path", "data_path_b",
                                       "image_size", "channels")}
    keys["data_path"] = os.path.abspath(keys["data_path"]) if keys["data_path"] else ""
    if all(v in ("", 0, None, "single") for v in keys.values()):
        return config.dataset
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:10]
    return f"{config.dataset}-{digest}"


def cache_path(extractor: Extractor, config, split: str) -> str:
    return os.path.join(cache_dir(), f"{data_identity(config)}_{split}_{extractor.name}_"
                                     f"{extractor.sha256[:16]}.npz")


def real_images(config, split: str) -> np.ndarray:
    """All images a generator of this run should match, float32 in [0, 1],
    [N, H, W, C]: the split's `image`, or the target side `b` of a pair."""
    arrays = data.load_split(config, split)
    images = arrays["image"] if "image" in arrays else arrays["b"]
    return images.astype(np.float32) / 255.0


def compute_stats(extractor: Extractor, images) -> dict:
    """Features, class probabilities, and the features' mean and covariance
    (in float64: the covariance of 10,000 rows loses digits in float32)."""
    probs, features = extractor.featurise(images)
    as_f64 = features.astype(np.float64)
    return {"features": features, "probs": probs, "mean": as_f64.mean(axis=0),
            "cov": np.cov(as_f64, rowvar=False)}


def reference_stats(extractor: Extractor | None = None, config=None, split: str = "test",
                    rebuild: bool = False) -> dict:
    """The cached statistics of the run's real `split` (default: Fashion-MNIST's),
    computed (and saved) when missing."""
    extractor = extractor or load_extractor()
    config = config if config is not None else dataset_config("fashion_mnist")
    path = cache_path(extractor, config, split)
    if os.path.exists(path) and not rebuild:
        with np.load(path) as stored:
            return dict(stored)
    images = real_images(config, split)
    extractor.check_shape(images.shape[1:], f"the {split} images of {config.dataset}")
    stats = compute_stats(extractor, images)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "wb") as f:  # rename: a killed build leaves no half file
        np.savez(f, **stats)
    os.replace(path + ".tmp", path)
    return stats


def dataset_config(dataset: str):
    """A minimal config naming one dataset with its default data keys."""
    from jaxgen.engine.config import base_config
    config = base_config()
    config.dataset = dataset
    return ml_collections.ConfigDict(config.to_dict())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="build the cached reference statistics")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--rebuild", action="store_true", help="recompute even if cached")
    args = parser.parse_args(argv)
    extractor = load_extractor()
    config = dataset_config(args.dataset)
    stats = reference_stats(extractor, config, args.split, rebuild=args.rebuild)
    print(f"{cache_path(extractor, config, args.split)}: "
          f"{len(stats['features'])} images, {stats['features'].shape[1]} features")
    return 0


if __name__ == "__main__":
    sys.exit(main())
