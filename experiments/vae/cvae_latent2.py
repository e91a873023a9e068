"""Conditional VAE: the class label goes into the encoder and the decoder, so
the 2-D latent is free to encode style only (samples: one row per class).

    jaxgen train --config experiments/vae/cvae_latent2.py --workdir runs/cvae_latent2
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "vae"
    c.conditional = True
    c.latent_dim = 2
    c.likelihood = "bernoulli"
    c.batch_size = 100
    c.steps = 3000          # 5 epochs: enough for a usable 2-D latent space
    c.optim = ml_collections.ConfigDict({"learning_rate": 1e-3})  # Adam
    c.seed = 0
    return c
