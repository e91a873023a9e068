"""DCGAN on Fashion-MNIST, the issue-18 recipe: batch-norm generator (128, 64, 32),
discriminator of four stride-2 LeakyReLU blocks (32, 64, 128, 256; 28 -> 14 -> 7 -> 4 -> 2)
with spectral normalisation, hinge loss, Adam(2e-4, b1 0.0, b2 0.9) for both networks,
one D update per G update, generator EMA 0.999 (warm-up) sampled with its own batch-norm
statistics. FID-FMNIST on 10,000 EMA samples every 500 steps into metrics.jsonl.

Sized for 60 minutes of training on one core of the shared 2-core CPU (measured numbers
and the commands that produced them: experiments/results/gan.md):

    nice -n 0 jaxgen train --config experiments/gan/dcgan_fmnist.py --workdir runs/gan/dcgan_fmnist --no-progress
    jaxgen eval --workdir runs/gan/dcgan_fmnist --metrics fid,kid,pr,classes --num 10000
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "dcgan"
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
    c.seed = 0
    return c
