"""Class-conditional DCGAN on Fashion-MNIST (one-hot label into G, projection
discriminator); sample grids have one row per class.

    nice -n 19 jaxgen train --config experiments/gan/cgan_fmnist.py --workdir runs/gan/cgan_fmnist
    nice -n 19 jaxgen eval --workdir runs/gan/cgan_fmnist --metrics fid,kid,pr,pictures --num 2000
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "cgan"
    c.dataset = "fashion_mnist"
    c.batch_size = 64
    c.steps = 3000
    c.ema_decay = 0.999     # sample grids from raw and EMA weights (jaxgen eval --metrics pictures)
    c.log_every = 100
    c.sample_every = 1000
    c.ckpt_every = 1000
    c.eval_every = 1000
    c.num_grid = 100        # one row per class
    c.seed = 0
    return c
