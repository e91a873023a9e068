"""Latent diffusion on the 32-D VAE of experiments/vae/vae_latent32.py (runs/vae_latent32).

The `ddpm` family with `latent_vae_workdir` set: an MLP denoiser (3 residual
blocks of width 256) diffuses one posterior draw z ~ q(z | x) of each training
image; samples are decoded to the VAE decoder's mean image. Class-conditional
with label dropout 0.1, as the pixel model, so the two compare at equal
settings. Run from the repository root (the VAE path is relative to it):

    nice -n 19 jaxgen train --config experiments/diffusion/latent_vae32.py \
        --workdir runs/ddpm_latent_vae32
"""
from jaxgen.diffusion.family import default_config


def get_config():
    c = default_config()
    c.family = "ddpm"
    c.seed = 0
    c.latent_vae_workdir = "runs/vae_latent32"
    c.batch_size = 128
    c.steps = 2000
    c.optim.learning_rate = 1e-3
    c.optim.warmup_steps = 100
    c.ema_decay = 0.995
    c.mlp_width = 256
    c.mlp_blocks = 3
    c.conditional = True
    c.label_dropout = 0.1
    c.prediction = "eps"
    c.schedule = "linear"
    c.sampler = "ddim"
    c.sample_steps = 50
    c.log_every = 100
    c.eval_every = 500
    c.eval_batches = 2
    c.sample_every = 1000
    c.ckpt_every = 500
    c.num_grid = 100             # a 10 x 10 grid: one class per row
    return c
