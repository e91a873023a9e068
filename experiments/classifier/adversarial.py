"""Accuracy of the shipped Fashion-MNIST CNN under FGSM and PGD, and one flipped example.

    nice -n 19 python experiments/classifier/adversarial.py [--num 2000] [--seed 0]

Attacks the metrics extractor (`jaxgen.metrics.load_extractor()`, the
classifier family's CNN) on the first `--num` test images at each epsilon
(L-inf, images in [0, 1]). PGD: 10 steps of 2.5 * eps / 10 from a uniform
random start in the ball (keys from --seed). Prints a markdown table and
writes into experiments/results/adversarial/:
  accuracy_vs_epsilon.png   accuracy of both attacks against epsilon
  flipped_example.png       original | perturbation (amplified) | adversarial
"""
from __future__ import annotations

import argparse
import functools
import os
import time

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxgen.classifier import adversarial  # noqa: E402
from jaxgen.data import FASHION_MNIST_CLASSES, fashion_mnist  # noqa: E402
from jaxgen.metrics import load_extractor  # noqa: E402

EPSILONS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
PGD_STEPS = 10
PGD_STEP_FRACTION = 2.5 / PGD_STEPS  # step = 2.5 * eps / steps: can cross the ball 2.5 times
FLIP_EPSILONS = (0.02, 0.05)  # the "small noise" at which to look for a flipped label
BATCH = 500
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "results", "adversarial")


def make_attacks(logits_fn, seed: int):
    """Jitted (images, labels, eps) -> adversarial images, for 'fgsm' and 'pgd'."""
    fgsm = jax.jit(functools.partial(adversarial.fgsm, logits_fn))

    @jax.jit
    def pgd(images, labels, epsilon, key):
        return adversarial.pgd(logits_fn, images, labels, epsilon,
                               PGD_STEP_FRACTION * epsilon, PGD_STEPS, key=key)

    base = jax.random.key(seed)
    return {"fgsm": lambda x, y, eps, batch: fgsm(x, y, eps),
            # A different random start for each batch, reproducible from the seed.
            "pgd": lambda x, y, eps, batch: pgd(x, y, eps, jax.random.fold_in(base, batch))}


def accuracy(logits_fn, attack, images, labels, epsilon):
    batch = iter(range(10**9))  # counts the batches accuracy_under_attack asks for
    return adversarial.accuracy_under_attack(
        logits_fn, lambda x, y: attack(x, y, jnp.float32(epsilon), next(batch)),
        images, labels, batch_size=BATCH)


def plot_accuracy(table, path):
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, accs in table.items():
        ax.plot(EPSILONS, [100 * a for a in accs], marker="o", label=name.upper())
    ax.set_xlabel("epsilon (L-inf, pixel range [0, 1])")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Fashion-MNIST CNN under attack")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def find_flip(logits_fn, attacks, images, labels):
    """(index, eps, attack name, adversarial image) of the first correctly classified
    test image whose label flips at the smallest epsilon in FLIP_EPSILONS."""
    clean = np.argmax(np.asarray(logits_fn(images)), -1)
    for eps in FLIP_EPSILONS:
        for name in ("fgsm", "pgd"):
            adv = np.asarray(attacks[name](images, labels, jnp.float32(eps), 0))
            flipped = np.argmax(np.asarray(logits_fn(adv)), -1)
            hits = np.nonzero((clean == labels) & (flipped != labels))[0]
            if len(hits):
                return int(hits[0]), eps, name, adv[hits[0]]
    raise RuntimeError("no label flipped at the small epsilons")


def plot_flip(logits_fn, image, adv, label, eps, name, path):
    probs = np.asarray(jax.nn.softmax(logits_fn(jnp.stack([image, adv]))))  # [2, 10]
    before, after = probs.argmax(-1)
    delta = adv - image
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 3.4))
    panels = [
        (image, f"original\ntrue: {FASHION_MNIST_CLASSES[label]}\n"
                f"pred: {FASHION_MNIST_CLASSES[before]} ({probs[0, before]:.0%})"),
        # Rescale so +-eps spans the full grey range: at eps=0.02 it is invisible otherwise.
        (delta / (2 * eps) + 0.5, f"perturbation x{1 / (2 * eps):.0f}\n"
                                  f"{name.upper()}, eps = {eps}\n(grey = 0)"),
        (adv, f"adversarial\npred: {FASHION_MNIST_CLASSES[after]} ({probs[1, after]:.0%})\n"
              f"max |delta| = {np.abs(delta).max():.3f}"),
    ]
    for ax, (img, title) in zip(axes, panels):
        ax.imshow(np.clip(img[..., 0], 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")  # keep the three-line titles
    plt.close(fig)
    return before, after, probs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.time()

    extractor = load_extractor()
    logits_fn = lambda x: extractor(x)[0]  # noqa: E731  images [B,28,28,1] -> logits [B,10]
    data = fashion_mnist.load("test")
    images = data["image"][:args.num].astype(np.float32) / 255.0
    labels = data["label"][:args.num].astype(np.int32)

    attacks = make_attacks(logits_fn, args.seed)
    table = {name: [accuracy(logits_fn, attack, images, labels, eps) for eps in EPSILONS]
             for name, attack in attacks.items()}

    os.makedirs(OUT_DIR, exist_ok=True)
    plot_accuracy(table, os.path.join(OUT_DIR, "accuracy_vs_epsilon.png"))
    idx, eps, name, adv = find_flip(logits_fn, attacks, images[:BATCH], labels[:BATCH])
    before, after, probs = plot_flip(logits_fn, images[idx], adv, int(labels[idx]), eps, name,
                                     os.path.join(OUT_DIR, "flipped_example.png"))

    print(f"first {args.num} Fashion-MNIST test images, seed {args.seed}, "
          f"PGD {PGD_STEPS} steps of {PGD_STEP_FRACTION} * eps, random start\n")
    print("| epsilon | " + " | ".join(f"{e:g}" for e in EPSILONS) + " |")
    print("|---|" + "---|" * len(EPSILONS))
    for name_, accs in table.items():
        print(f"| {name_.upper()} accuracy (%) | " + " | ".join(f"{100 * a:.2f}" for a in accs)
              + " |")
    print(f"\nflipped example: test index {idx}, true {FASHION_MNIST_CLASSES[labels[idx]]}, "
          f"{name.upper()} eps={eps}: {FASHION_MNIST_CLASSES[before]} ({probs[0, before]:.3f}) "
          f"-> {FASHION_MNIST_CLASSES[after]} ({probs[1, after]:.3f})")
    print(f"wall time {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
