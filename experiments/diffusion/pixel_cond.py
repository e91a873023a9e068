"""Pixel-space class-conditional DDPM on Fashion-MNIST, sized for the 2-core CPU.

A small U-Net (16 base channels, 28 -> 14 -> 7 with 16/32/64 channels,
self-attention at 7x7), eps prediction, linear schedule with T = 1000,
label dropout 0.1 for classifier-free guidance, EMA 0.995. About 1.2 epochs.

    nice -n 19 jaxgen train --config experiments/diffusion/pixel_cond.py \
        --workdir runs/ddpm_pixel_cond
"""
from jaxgen.diffusion.family import default_config


def get_config():
    c = default_config()
    c.family = "ddpm"
    c.seed = 0
    c.batch_size = 64
    c.steps = 1200
    c.optim.learning_rate = 1e-3
    c.optim.warmup_steps = 100
    c.ema_decay = 0.995
    c.base_channels = 16
    c.channel_mults = (1, 2, 4)
    c.num_res_blocks = 1
    c.attention = True
    c.conditional = True
    c.label_dropout = 0.1
    c.prediction = "eps"
    c.schedule = "linear"
    c.sampler = "ddim"
    c.sample_steps = 50
    c.log_every = 50
    c.eval_every = 400
    c.eval_batches = 2
    c.sample_every = 400
    c.ckpt_every = 200
    c.num_grid = 100             # a 10 x 10 grid: one class per row
    return c
