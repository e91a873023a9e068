"""One picture: test images, the VAE's reconstructions and the VAE-GAN's, and
the two models' prior samples (the same latents for both).

    python experiments/vae/vaegan_figure.py runs/vaegan_vae runs/vaegan \
        experiments/results/vae/vaegan/reconstructions_vs_vae.png
"""
import functools
import sys

import jax
import numpy as np
from matplotlib.figure import Figure

import jaxgen
from jaxgen import data
from jaxgen.engine.images import image_grid
from jaxgen.vae import pictures as vae_pictures
from jaxgen.vaegan import sampling as vaegan_sampling

NUM = 16  # test images shown, and prior samples per model


def vae_recons(run, pixels, labels):
    fn = jax.jit(functools.partial(vae_pictures.reconstruction_images, run.config))
    return np.asarray(fn(run.state.params, pixels, labels))


def vaegan_recons(run, pixels):
    fn = jax.jit(functools.partial(vaegan_sampling.reconstruct, run.config))
    return np.asarray(fn(run.state.params, pixels))


def main(vae_dir, vaegan_dir, out):
    vae, vaegan = jaxgen.load(vae_dir), jaxgen.load(vaegan_dir)
    test = data.load_split(vaegan.config, "test")
    pixels, labels = np.asarray(test["image"][:NUM]), np.asarray(test["label"][:NUM])
    key = jax.random.key(0)  # the same prior latents (both latent 32) for both models
    rows = [("test image", pixels / 255.0),
            (f"VAE recon. (step {vae.step})", vae_recons(vae, pixels, labels)),
            (f"VAE-GAN recon. (step {vaegan.step})", vaegan_recons(vaegan, pixels)),
            ("VAE sample", np.asarray(vae.sample(key, NUM))),
            ("VAE-GAN sample", np.asarray(vaegan.sample(key, NUM)))]
    grid = image_grid(np.concatenate([r[1] for r in rows]), NUM)
    fig = Figure(figsize=(grid.shape[1] / 50 + 2.5, grid.shape[0] / 50 + 0.8))
    ax = fig.subplots()
    ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    h = pixels.shape[1]
    ax.set_yticks([2 + i * (h + 2) + h / 2 for i in range(len(rows))], [r[0] for r in rows])
    ax.set_xticks([])
    ax.tick_params(length=0)
    ax.set_title("Fashion-MNIST test images, reconstructions (posterior means) and prior samples")
    fig.savefig(out, dpi=100, bbox_inches="tight")
    print(out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
