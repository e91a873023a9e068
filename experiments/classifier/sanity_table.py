"""FID-FMNIST sanity table: where do real, degraded and generated sets land?

    nice -n 19 python experiments/classifier/sanity_table.py [--vae runs/vae_latent2 ...]

Every row compares a set of 10,000 images with the test split's cached
reference statistics: the train split (the floor: same distribution, other
images), blurred and noised copies of the test split, and samples of any
trained runs given with --run. Prints a markdown table.
"""
from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.metrics import (frechet_distance, inception_score, kernel_inception_distance,
                            load_extractor, precision_recall)
from jaxgen.metrics.reference import real_images, reference_stats

NUM = 10_000
SEED = 0


def box_blur(images, size: int = 3):
    """Mean over a size x size window (edges replicated). [N, 28, 28, 1]"""
    pad = size // 2
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    return sum(padded[:, i:i + 28, j:j + 28] for i in range(size) for j in range(size)) / size ** 2


def gaussian_noise(images, std: float, seed: int = SEED):
    noise = np.random.default_rng(seed).normal(0.0, std, images.shape)
    return np.clip(images + noise, 0.0, 1.0).astype(np.float32)


def run_samples(workdir: str, num: int = NUM):
    import jaxgen
    from jaxgen.metrics.evaluations import draw_samples
    return draw_samples(jaxgen.load(workdir), jax.random.key(SEED), num)


def row(name: str, images, extractor, reference) -> dict:
    probs, feats = extractor.featurise(images)
    as_f64 = feats.astype(np.float64)
    fid = frechet_distance(reference["mean"], reference["cov"], as_f64.mean(0),
                           np.cov(as_f64, rowvar=False))
    kid_mean, _ = kernel_inception_distance(reference["features"], feats)
    is_mean, _ = inception_score(jnp.asarray(probs))
    precision, recall = precision_recall(reference["features"], feats)
    return {"set": name, "FID-FMNIST": float(fid), "KID-FMNIST": float(kid_mean),
            "IS-FMNIST": float(is_mean), "precision": float(precision), "recall": float(recall)}


def markdown(rows) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[h]:.3f}" if isinstance(r[h], float) else str(r[h])
                                       for h in header) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", default=[], help="workdir of a trained run")
    args = parser.parse_args()
    extractor = load_extractor()
    reference = reference_stats(extractor)
    test = real_images("fashion_mnist", "test")
    sets = [("test split (itself)", test),
            ("train split, first 10,000", real_images("fashion_mnist", "train")[:NUM]),
            ("test, 3x3 box blur", box_blur(test)),
            ("test + N(0, 0.1^2) noise", gaussian_noise(test, 0.1)),
            ("test + N(0, 0.3^2) noise", gaussian_noise(test, 0.3))]
    sets += [(f"samples of {w}", run_samples(w)) for w in args.run]
    print(f"extractor sha256 {extractor.sha256[:16]}, reference: test split (10,000 images)")
    print(markdown([row(name, images, extractor, reference) for name, images in sets]))


if __name__ == "__main__":
    main()
