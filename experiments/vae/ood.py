"""Out-of-distribution detection with p(x) versus a classifier's confidence.

Scores N Fashion-MNIST test images (in-distribution) and N each of three
out-of-distribution sets -- uniform noise, inverted test images (255 - x) and
synthetic shapes drawn with NumPy -- by
  (a) the VAE's IWAE lower bound on log p(x) (runs/vae_latent32, discretized
      logistic decoder, so a true 8-bit likelihood), and
  (b) the Fashion-MNIST classifier's max softmax probability,
and reports AUROC (higher score = in-distribution) per score and OOD set, plus
the classifier's mean confidence on each set.

    nice -n 19 python experiments/vae/ood.py
"""
import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxgen  # noqa: E402
from jaxgen.data import fashion_mnist  # noqa: E402
from jaxgen.metrics import load_extractor  # noqa: E402
from jaxgen.metrics.ood import auroc  # noqa: E402


def draw_shapes(rng, n):
    """n uint8 [28,28,1] images: 1-3 filled rectangles / discs / thick lines on black."""
    yy, xx = np.mgrid[0:28, 0:28]
    out = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        img = out[i]
        for _ in range(rng.integers(1, 4)):
            value = rng.integers(128, 256)
            kind = rng.integers(3)
            if kind == 0:                                   # filled rectangle
                y0, x0 = rng.integers(0, 20, size=2)
                h, w = rng.integers(4, 14, size=2)
                img[y0:y0 + h, x0:x0 + w] = value
            elif kind == 1:                                 # filled disc
                cy, cx = rng.uniform(6, 22, size=2)
                r = rng.uniform(3, 9)
                img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = value
            else:                                           # thick line segment
                (y0, x0), (y1, x1) = rng.uniform(2, 26, size=(2, 2))
                t = np.clip(((yy - y0) * (y1 - y0) + (xx - x0) * (x1 - x0))
                            / max((y1 - y0) ** 2 + (x1 - x0) ** 2, 1e-6), 0, 1)
                d2 = (yy - y0 - t * (y1 - y0)) ** 2 + (xx - x0 - t * (x1 - x0)) ** 2
                img[d2 <= rng.uniform(1, 2.5) ** 2] = value
    return out[..., None]


def make_sets(n, seed):
    test = fashion_mnist.load("test")
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(test["image"]))
    return {
        "fashion_mnist (in)": test["image"][idx[:n]],
        "uniform noise": rng.integers(0, 256, size=(n, 28, 28, 1)).astype(np.uint8),
        "inverted (255 - x)": 255 - test["image"][idx[n:2 * n]],
        "shapes": draw_shapes(rng, n),
    }


def log_px(run, images, key, batch_size):
    fn = jax.jit(lambda batch, k: run.family.log_likelihood(run.config, run.state, batch, k))
    out = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        batch = {"image": jnp.asarray(x), "label": jnp.zeros(len(x), jnp.int32)}
        key, sub = jax.random.split(key)
        out.append(np.asarray(fn(batch, sub)))
    return np.concatenate(out)


def max_softmax(extractor, images, batch_size):
    out = []
    for start in range(0, len(images), batch_size):
        logits, _ = extractor(jnp.asarray(images[start:start + batch_size], jnp.float32) / 255.0)
        out.append(np.asarray(jax.nn.softmax(logits, axis=-1).max(axis=-1)))
    return np.concatenate(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", default="runs/vae_latent32")
    p.add_argument("--num", type=int, default=1000, help="images per set")
    p.add_argument("--iwae-samples", type=int, default=None,
                   help="IWAE K (default: the run's config.iwae_samples)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="experiments/results/ood", help="folder for the figures")
    p.add_argument("--json", default=None, help="also write the summary to this file")
    args = p.parse_args()

    t0 = time.time()
    overrides = {"iwae_samples": str(args.iwae_samples)} if args.iwae_samples else None
    run = jaxgen.load(args.workdir, overrides=overrides)
    extractor = load_extractor()
    sets = make_sets(args.num, args.seed)
    key = jax.random.PRNGKey(args.seed)

    scores = {}
    for i, (name, images) in enumerate(sets.items()):
        t = time.time()
        lp = log_px(run, images, jax.random.fold_in(key, i), args.batch_size)
        conf = max_softmax(extractor, images, args.batch_size)
        scores[name] = {"log_px": lp, "max_softmax": conf}
        print(f"{name:22s} log p(x) mean {lp.mean():12.2f} nats  "
              f"max-softmax mean {conf.mean():.4f}  ({time.time() - t:.1f}s)", flush=True)

    in_name = next(iter(sets))
    rows = []
    for name in list(sets)[1:]:
        rows.append({
            "ood_set": name,
            "auroc_log_px": auroc(scores[in_name]["log_px"], scores[name]["log_px"]),
            "auroc_max_softmax": auroc(scores[in_name]["max_softmax"], scores[name]["max_softmax"]),
            "mean_log_px": float(scores[name]["log_px"].mean()),
            "mean_max_softmax": float(scores[name]["max_softmax"].mean()),
            "frac_max_softmax_gt_0.9": float((scores[name]["max_softmax"] > 0.9).mean()),
        })
    summary = {
        "in_distribution": {"mean_log_px": float(scores[in_name]["log_px"].mean()),
                            "mean_max_softmax": float(scores[in_name]["max_softmax"].mean()),
                            "frac_max_softmax_gt_0.9":
                                float((scores[in_name]["max_softmax"] > 0.9).mean())},
        "ood": rows, "num": args.num, "seed": args.seed,
        "iwae_samples": int(run.config.iwae_samples), "workdir": args.workdir,
        "wall_s": None,
    }

    os.makedirs(args.out, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    lo = min(s["log_px"].min() for s in scores.values())
    hi = max(s["log_px"].max() for s in scores.values())
    bins = np.linspace(lo, hi, 120)
    for name, s in scores.items():
        axes[0].hist(s["log_px"], bins=bins, alpha=0.55, label=name)
        axes[1].hist(s["max_softmax"], bins=np.linspace(0, 1, 51), alpha=0.55, label=name)
    axes[0].set(xlabel=f"IWAE log p(x) [nats], K={run.config.iwae_samples}", ylabel="count",
                title=f"VAE ({os.path.basename(args.workdir)}) log-likelihood")
    axes[1].set(xlabel="classifier max softmax probability", ylabel="count",
                title="Classifier confidence")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "log_px_histograms.png"), dpi=110)

    # A strip of example inputs from each set, to show what was scored.
    fig, axes = plt.subplots(len(sets), 10, figsize=(10, len(sets) * 1.1))
    for r, (name, images) in enumerate(sets.items()):
        for c in range(10):
            axes[r, c].imshow(images[c, ..., 0], cmap="gray", vmin=0, vmax=255)
            axes[r, c].axis("off")
        axes[r, 0].set_title(name, fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "examples.png"), dpi=90)

    summary["wall_s"] = round(time.time() - t0, 1)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
