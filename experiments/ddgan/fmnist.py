"""Denoising diffusion GAN on Fashion-MNIST, sized for the shared 2-core CPU.

T = 4 levels of the discretised VP schedule (the paper's), a small U-Net
generator (8/16 channels, 28 -> 14, no attention, z of 100 added to its time
embedding), a 3-block conv discriminator (16/32/32) of (x_{t-1}, x_t, t),
R1 gamma 0.05, EMA 0.999 of G (sampled from), batch 32. The first size tried
(16/32 U-Net, 32/64/64 D, batch 64) ran 0.175 steps/s on the shared 2 cores
(load ~22): too slow for a GAN in a 17-minute budget.

Trained for a wall-clock budget (SIGTERM saves the step and exits):
    timeout -s TERM 17m nice -n 19 jaxgen train --config experiments/ddgan/fmnist.py --workdir runs/ddgan_fmnist
    nice -n 19 jaxgen eval --workdir runs/ddgan_fmnist --metrics fid,pr,sample_time,pictures --num 10000
"""
from jaxgen.diffusion.ddgan.family import default_config


def get_config():
    c = default_config()
    c.family = "ddgan"
    c.seed = 0
    c.batch_size = 32
    c.steps = 5000
    c.num_timesteps = 4
    c.base_channels = 8
    c.channel_mults = (1, 2)
    c.num_res_blocks = 1
    c.attention = False
    c.conv = "fast"
    c.d_channels = (16, 32, 32)
    c.optim.g.learning_rate = 2e-4
    c.optim.d.learning_rate = 2e-4
    c.log_every = 50
    c.eval_every = 200
    c.eval_batches = 1
    c.sample_every = 200
    c.ckpt_every = 100
    c.num_grid = 64
    return c
