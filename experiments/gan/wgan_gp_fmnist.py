"""WGAN-GP on Fashion-MNIST with the reference settings of Gulrajani et al. 2017
(Algorithm 1): 5 critic updates of 64 real images per generator update (batch_size 320),
penalty 10, Adam(1e-4, 0.5, 0.9), Wasserstein loss; the DCGAN networks of dcgan_fmnist.py
(four stride-2 critic blocks, no normalisation in the critic, as the penalty needs),
generator EMA 0.999 sampled with its own batch-norm statistics. FID-FMNIST on 10,000 EMA
samples every 200 generator steps into metrics.jsonl.

Five critic updates per generator update make a step ~3x a DCGAN step here; measured
numbers and the commands: experiments/results/gan.md.

    nice -n 10 jaxgen train --config experiments/gan/wgan_gp_fmnist.py --workdir runs/gan/wgan_gp_fmnist --no-progress
    jaxgen eval --workdir runs/gan/wgan_gp_fmnist --metrics fid,kid,pr,classes --num 10000
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "wgan_gp"
    c.dataset = "fashion_mnist"
    c.batch_size = 320
    c.steps = 3000
    c.d_channels = (32, 64, 128, 256)
    c.ema_decay = 0.999
    c.ema_warmup = True
    c.ema_batch_stats = "recompute"
    c.sample_from = "ema"
    c.metrics_every = 200
    c.metrics = "fid,pr"
    c.metrics_num = 10000
    c.log_every = 50
    c.sample_every = 500
    c.ckpt_every = 200
    c.eval_every = 500
    c.seed = 0
    return c
