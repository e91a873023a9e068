"""Denoising diffusion GAN on Fashion-MNIST, sized for the shared 2-core CPU.

T = 4 levels of the discretised VP schedule (the paper's), a small U-Net
generator (16/32 channels, 28 -> 14, no attention, z of 100 added to its time
embedding), a 3-block conv discriminator of (x_{t-1}, x_t, t), R1 gamma 0.05,
EMA 0.999 of G (sampled from).

    nice -n 19 jaxgen train --config experiments/ddgan/fmnist.py --workdir runs/ddgan_fmnist
    nice -n 19 jaxgen eval --workdir runs/ddgan_fmnist --metrics fid,pr,sample_time,pictures --num 10000
"""
from jaxgen.diffusion.ddgan.family import default_config


def get_config():
    c = default_config()
    c.family = "ddgan"
    c.seed = 0
    c.batch_size = 64
    c.steps = 3000
    c.num_timesteps = 4
    c.base_channels = 16
    c.channel_mults = (1, 2)
    c.num_res_blocks = 1
    c.attention = False
    c.conv = "fast"
    c.d_channels = (32, 64, 64)
    c.optim.g.learning_rate = 2e-4
    c.optim.d.learning_rate = 2e-4
    c.log_every = 50
    c.eval_every = 500
    c.eval_batches = 2
    c.sample_every = 500
    c.ckpt_every = 250
    c.num_grid = 64
    return c
