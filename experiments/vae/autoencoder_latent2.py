"""Plain autoencoder with a 2-D code, the course's first model. It has no
prior: samples decode codes drawn from a Gaussian fitted to the training codes,
which shows why the VAE's regularised latent space samples better.

    jaxgen train --config experiments/vae/autoencoder_latent2.py --workdir runs/ae_latent2
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "autoencoder"
    c.latent_dim = 2
    c.likelihood = "bernoulli"
    c.batch_size = 100
    c.steps = 3000          # 5 epochs: enough for a usable 2-D latent space
    c.optim = ml_collections.ConfigDict({"learning_rate": 1e-3})  # Adam
    c.seed = 0
    return c
