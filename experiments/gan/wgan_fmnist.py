"""WGAN on Fashion-MNIST with the DCGAN networks (Arjovsky et al. 2017, Algorithm 1):
5 critic updates of 64 real images per generator update (batch_size 320), weight
clipping to [-0.01, 0.01], RMSProp 5e-5 for both networks; 1000 steps, the length
of experiments/gan/wgan_gp_fmnist.py, for a 2-core CPU.

    nice -n 19 jaxgen train --config experiments/gan/wgan_fmnist.py --workdir runs/gan/wgan_fmnist
    nice -n 19 jaxgen eval --workdir runs/gan/wgan_fmnist --metrics fid,kid,pr,pictures --num 2000
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "wgan"
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
