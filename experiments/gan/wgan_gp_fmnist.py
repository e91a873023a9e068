"""WGAN-GP on Fashion-MNIST with the DCGAN networks: 5 critic updates of 64 real images
per generator update (batch_size 320), penalty 10, Adam(1e-4, 0.5, 0.9).

    nice -n 19 jaxgen train --config experiments/gan/wgan_gp_fmnist.py --workdir runs/gan/wgan_gp_fmnist
    nice -n 19 jaxgen eval --workdir runs/gan/wgan_gp_fmnist --metrics fid,kid,pr,pictures --num 2000
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "wgan_gp"
    c.dataset = "fashion_mnist"
    c.batch_size = 320
    c.steps = 1000
    c.ema_decay = 0.999     # sample grids from raw and EMA weights (jaxgen eval --metrics pictures)
    c.log_every = 100
    c.sample_every = 1000
    c.ckpt_every = 1000
    c.eval_every = 1000
    c.seed = 0
    return c
