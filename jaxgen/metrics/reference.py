"""Reference statistics of a real split, cached on disk.

    python -m jaxgen.metrics.reference [--split test] [--dataset fashion_mnist]

Featurises every image of the split with the extractor and stores the
features (for KID and precision/recall), their mean and covariance (for FID)
and the class probabilities (for IS of real data) in one .npz file. The file
name holds the dataset, the split and the extractor's sha256, so new weights
never reuse statistics of old ones. `jaxgen eval` builds the file on first
use and reads it afterwards.
"""
from __future__ import annotations

import argparse
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


def cache_path(extractor: Extractor, dataset: str, split: str) -> str:
    return os.path.join(cache_dir(), f"{dataset}_{split}_{extractor.name}_"
                                     f"{extractor.sha256[:16]}.npz")


def real_images(dataset: str, split: str) -> np.ndarray:
    """All images of a split as float32 in [0, 1], [N, 28, 28, 1]."""
    config = ml_collections.ConfigDict({"dataset": dataset, "seed": 0})
    return data.load_arrays(config, split)["image"].astype(np.float32) / 255.0


def compute_stats(extractor: Extractor, images) -> dict:
    """Features, class probabilities, and the features' mean and covariance
    (in float64: the covariance of 10,000 rows loses digits in float32)."""
    probs, features = extractor.featurise(images)
    as_f64 = features.astype(np.float64)
    return {"features": features, "probs": probs, "mean": as_f64.mean(axis=0),
            "cov": np.cov(as_f64, rowvar=False)}


def reference_stats(extractor: Extractor | None = None, dataset: str = "fashion_mnist",
                    split: str = "test", rebuild: bool = False) -> dict:
    """The cached statistics of `split`, computed (and saved) when missing."""
    extractor = extractor or load_extractor()
    path = cache_path(extractor, dataset, split)
    if os.path.exists(path) and not rebuild:
        with np.load(path) as stored:
            return dict(stored)
    stats = compute_stats(extractor, real_images(dataset, split))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "wb") as f:  # rename: a killed build leaves no half file
        np.savez(f, **stats)
    os.replace(path + ".tmp", path)
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="build the cached reference statistics")
    parser.add_argument("--dataset", default="fashion_mnist", choices=data.IMAGE_DATASETS)
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--rebuild", action="store_true", help="recompute even if cached")
    args = parser.parse_args(argv)
    extractor = load_extractor()
    stats = reference_stats(extractor, args.dataset, args.split, rebuild=args.rebuild)
    print(f"{cache_path(extractor, args.dataset, args.split)}: "
          f"{len(stats['features'])} images, {stats['features'].shape[1]} features")
    return 0


if __name__ == "__main__":
    sys.exit(main())
