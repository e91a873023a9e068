"""VQ-VAE stage 2: a Gated PixelCNN (jaxgen.autoregressive) over the 8x8 code
grid of the frozen stage-1 run in runs/vqvae_ema. The autoencoder keys come
from the stage-1 file, so the two configs cannot drift apart.

    nice -n 19 jaxgen train --config experiments/vqvae/prior.py --workdir runs/vqvae_prior
    nice -n 19 jaxgen eval --workdir runs/vqvae_prior --metrics nll,bound_terms,codebook,sample_time,pictures
    nice -n 19 jaxgen eval --workdir runs/vqvae_prior --metrics sample_time --config.sampler=naive
    nice -n 19 jaxgen eval --workdir runs/vqvae_prior --metrics fid,kid,pr --num 2000
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vqvae_ema  # noqa: E402


def get_config():
    c = vqvae_ema.get_config()
    c.stage = "prior"
    c.vq_workdir = "runs/vqvae_ema"
    c.prior_architecture = "gated"
    c.prior_channels = 64
    c.prior_layers = 6
    c.prior_kernel_size = 3
    c.prior_first_kernel_size = 5
    c.prior_head_hidden = 128
    c.prior_embedding = 32
    c.batch_size = 64
    c.steps = 1500
    c.optim.learning_rate = 1e-3
    c.log_every = 50
    c.eval_every = 500
    c.sample_every = 500
    c.ckpt_every = 500
    return c
