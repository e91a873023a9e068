"""The quick start: a small convolutional VAE on Fashion-MNIST that trains in
a few minutes on a 2-core CPU and leaves a grid of recognisable garments in
WORKDIR/samples/final.png (README, "Quick start"; the time is measured there).

    jaxgen train --config experiments/quickstart/vae.py --workdir runs/quickstart

The full 10-epoch VAEs are experiments/vae/vae_latent2.py and vae_latent32.py.
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "vae"
    c.latent_dim = 8
    c.enc_channels = (16, 32, 32)
    c.dec_channels = (32, 32, 16)
    c.likelihood = "bernoulli"
    c.batch_size = 64
    c.steps = 3000          # 3.2 epochs of 60,000 images
    c.log_every = 100
    c.sample_every = 1000
    c.ckpt_every = 1000
    c.eval_every = 1000
    c.optim = ml_collections.ConfigDict({"learning_rate": 2e-3})  # Adam
    c.seed = 0
    return c
