"""Class-conditional DCGAN on Fashion-MNIST (one-hot label into G, projection
discriminator), the recipe of dcgan_fmnist.py (four stride-2 D blocks with spectral
normalisation, hinge loss, Adam(2e-4, 0.0, 0.9), EMA 0.999 sampled with its own
batch-norm statistics); sample grids have one row per class. FID-FMNIST on 10,000
EMA samples (classes balanced) every 500 steps into metrics.jsonl.

Sized for 60 minutes of training on one core of the shared 2-core CPU (measured numbers
and the commands: experiments/results/gan.md):

    nice -n 0 jaxgen train --config experiments/gan/cgan_fmnist.py --workdir runs/gan/cgan_fmnist --no-progress
    jaxgen eval --workdir runs/gan/cgan_fmnist --metrics fid,kid,pr,classes --num 10000
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "cgan"
    c.dataset = "fashion_mnist"
    c.batch_size = 64
    c.steps = 7000
    c.d_channels = (32, 64, 128, 256)
    c.d_spectral_norm = True
    c.loss = "hinge"
    adam = {"learning_rate": 2e-4, "b1": 0.0, "b2": 0.9}  # SN-GAN's (Miyato et al. 2018)
    c.optim = ml_collections.ConfigDict({"g": dict(adam), "d": dict(adam)})
    c.ema_decay = 0.999
    c.ema_warmup = True
    c.ema_batch_stats = "recompute"
    c.sample_from = "ema"
    c.metrics_every = 500     # FID curve against training seconds
    c.metrics = "fid,pr"
    c.metrics_num = 10000
    c.log_every = 100
    c.sample_every = 1000
    c.ckpt_every = 500
    c.eval_every = 1000
    c.num_grid = 100        # one row per class
    c.seed = 0
    return c
