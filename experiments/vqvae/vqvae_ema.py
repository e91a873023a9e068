"""VQ-VAE stage 1: encoder, EMA codebook (K = 128 codes of dimension 16 on an
8x8 grid) and a discretized-logistic decoder, ~1 epoch of Fashion-MNIST
(a budget set by the shared 2-core CPU, not by convergence).

    nice -n 19 jaxgen train --config experiments/vqvae/vqvae_ema.py --workdir runs/vqvae_ema
    nice -n 19 jaxgen eval --workdir runs/vqvae_ema --metrics nll,bound_terms,codebook,sample_time,pictures

Stage 2 (the PixelCNN prior over its codes) is experiments/vqvae/prior.py.
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "vqvae"
    c.stage = "autoencoder"
    c.hidden_channels = (32, 64)
    c.num_res_blocks = 2
    c.code_dim = 16
    c.num_codes = 128
    c.commitment_cost = 0.25
    c.codebook_update = "ema"
    c.codebook_decay = 0.99
    c.batch_size = 64
    c.steps = 900
    c.optim = ml_collections.ConfigDict({"learning_rate": 1e-3, "grad_clip_norm": 1.0})  # Adam
    c.log_every = 50
    c.eval_every = 300
    c.sample_every = 300
    c.ckpt_every = 300
    c.seed = 0
    return c
