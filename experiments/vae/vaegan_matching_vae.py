"""The VAE that the VAE-GAN (experiments/vae/vaegan.py) is compared with: the
same encoder and decoder widths, latent 32, batch 64 and seed, the
discretized-logistic decoder of experiments/vae/vae_latent32.py, trained for
the same wall time (experiments/vae/run_vaegan.sh runs both at once, so both
see the same machine load).
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "vae"
    c.seed = 0
    c.latent_dim = 32
    c.likelihood = "logistic"
    c.batch_size = 64
    c.steps = 100000        # stopped by wall time
    c.enc_channels = (32, 64, 128)
    c.dec_channels = (128, 64, 32)
    c.optim = ml_collections.ConfigDict({"learning_rate": 1e-3})  # Adam, as vae_latent32
    c.log_every = 50
    c.sample_every = 500
    c.ckpt_every = 250
    c.eval_every = 500
    return c
