"""Metrics that judge generative models (DESIGN.md, "Metrics").

Feature-based image metrics use jaxgen's Fashion-MNIST CNN as extractor
(`load_extractor`); report them as FID-FMNIST etc., never next to Inception
FIDs. Everything numeric is JAX, jit-able and batched; `evaluations` holds
the `jaxgen eval` glue and `reference` the cached statistics of real data.
"""
from jaxgen.metrics.divergences import (bits_per_dim, js_diag_gaussians, js_discrete,
                                        kl_diag_gaussians, kl_discrete)
from jaxgen.metrics.extractor import load_extractor
from jaxgen.metrics.feature_distances import (frechet_distance, gaussian_stats,
                                              kernel_inception_distance)
from jaxgen.metrics.modes import mode_coverage, toy_mode_coverage
from jaxgen.metrics.sample_quality import inception_score, precision_recall

__all__ = ["bits_per_dim", "kl_discrete", "js_discrete", "kl_diag_gaussians",
           "js_diag_gaussians", "load_extractor", "frechet_distance", "gaussian_stats",
           "kernel_inception_distance", "inception_score", "precision_recall",
           "mode_coverage", "toy_mode_coverage"]
