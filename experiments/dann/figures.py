"""The pictures of experiments/results/domain_adaptation.md from runs/dann:
the PCA of test features (source only beside DANN, one seed) and the domain
classifier's training accuracy of both.

    python experiments/dann/figures.py runs/dann 0 experiments/results/domain_adaptation
"""
import os
import sys

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import jaxgen  # noqa: E402
from jaxgen.dann.pictures import domain_accuracy_curve, draw_projection, projection  # noqa: E402

ROWS = (("source_only", "source only"), ("dann", "DANN"))


def main(root, seed, outdir):
    os.makedirs(outdir, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.6))
    for ax, (row, title) in zip(axes, ROWS):
        run = jaxgen.load(os.path.join(root, f"{row}_seed{seed}"))
        draw_projection(ax, projection(run, jax.random.key(0)),
                        f"{title}: test features, PCA (seed {seed})")
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "features_pca.png"), dpi=90)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5.0, 3.0))
    for row, title in ROWS:
        steps, acc = domain_accuracy_curve(os.path.join(root, f"{row}_seed{seed}"))
        ax.plot(steps, acc, label=title)
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("domain accuracy (train batches)")
    ax.set_ylim(0.0, 1.05)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "domain_accuracy.png"), dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
