"""DCGAN on Fashion-MNIST (batch-norm generator, LeakyReLU conv discriminator,
non-saturating loss), sized to about 5 minutes on an idle 2-core CPU (750 examples/s measured by `jaxgen bench dcgan`).

    nice -n 19 jaxgen train --config experiments/gan/dcgan_fmnist.py --workdir runs/gan/dcgan_fmnist
    nice -n 19 jaxgen eval --workdir runs/gan/dcgan_fmnist --metrics fid,kid,pr,pictures --num 2000
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "dcgan"
    c.dataset = "fashion_mnist"
    c.batch_size = 64
    c.steps = 3000
    c.ema_decay = 0.999     # sample grids from raw and EMA weights (jaxgen eval --metrics pictures)
    c.log_every = 100
    c.sample_every = 1000
    c.ckpt_every = 1000
    c.eval_every = 1000
    c.seed = 0
    return c
