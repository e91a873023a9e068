"""VAE with a 32-D latent space and a discretized-logistic decoder: a true
likelihood of 8-bit images, so its IWAE bound (the shared `nll`, K =
iwae_samples) is in bits/dim on [0, 255] like flows, PixelCNN and diffusion.
10 epochs.

    jaxgen train --config experiments/vae/vae_latent32.py --workdir runs/vae_latent32
    jaxgen eval --workdir runs/vae_latent32 --metrics elbo,nll,pictures
    jaxgen eval --workdir runs/vae_latent32 --metrics nll --config.iwae_samples=1000
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "vae"
    c.latent_dim = 32
    c.likelihood = "logistic"
    c.batch_size = 100
    c.steps = 6000          # 10 epochs
    c.optim = ml_collections.ConfigDict({"learning_rate": 1e-3})  # Adam
    c.seed = 0
    return c
