"""The course's MLP GAN on Fashion-MNIST (non-saturating loss, Adam 2e-4 / 0.5), sized to about 5 minutes on an idle 2-core CPU (4,100 examples/s measured by `jaxgen bench gan`).

    nice -n 19 jaxgen train --config experiments/gan/gan_fmnist.py --workdir runs/gan/gan_fmnist
    nice -n 19 jaxgen eval --workdir runs/gan/gan_fmnist --metrics fid,kid,pr,pictures --num 2000
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "gan"
    c.dataset = "fashion_mnist"
    c.batch_size = 64
    c.steps = 20000
    c.ema_decay = 0.999     # sample grids from raw and EMA weights (jaxgen eval --metrics pictures)
    c.log_every = 100
    c.sample_every = 1000
    c.ckpt_every = 1000
    c.eval_every = 1000
    c.seed = 0
    return c
