"""Glow on Fashion-MNIST (8-bit, 28x28): uniform dequantization, logit
pre-processing (alpha 0.05), 2 levels of [squeeze, 4 x (actnorm, LU 1x1
convolution, affine channel coupling)], half the channels factored out after
the first (14x14x4 -> 14x14x2, then 7x7x8); residual conv conditioners with 48
channels. Sampled at temperatures 0.5 ... 1.0 by `pictures`. Trained for a
budgeted wall time on a shared 2-core CPU (SIGINT saves a checkpoint; running
the same command again resumes):

    TRAIN_SECONDS=1080 bash experiments/flows/run_timed.sh glow_fmnist
    # = timeout -s INT 1080 nice -n 19 jaxgen train --config experiments/flows/glow_fmnist.py --workdir runs/flows/glow_fmnist
    #   nice -n 19 jaxgen eval --workdir runs/flows/glow_fmnist --metrics nll,sample_time,pictures,fid,kid
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "glow"
    c.dataset = "fashion_mnist"
    c.num_levels = 2
    c.steps_per_level = 4
    c.hidden = 48
    c.num_blocks = 1
    c.logit_alpha = 0.05
    c.batch_size = 64
    c.steps = 20000          # an upper bound: the wall-time budget stops the run first
    c.optim = ml_collections.ConfigDict()
    c.optim.learning_rate = 1e-3
    c.optim.warmup_steps = 200
    c.log_every = 50
    c.eval_every = 250
    c.eval_batches = 10
    c.ckpt_every = 250
    c.sample_every = 1000
    c.seed = 0
    return c
