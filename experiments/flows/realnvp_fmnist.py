"""RealNVP on Fashion-MNIST (8-bit, 28x28): uniform dequantization, logit
pre-processing (alpha 0.05), 2 levels: [3 checkerboard couplings, squeeze,
3 channel couplings, factor out half] then [3 checkerboard couplings] on
14x14x2; residual conv conditioners with 32 channels. Small enough to train
on a shared 2-core CPU for a budgeted wall time (the run is stopped with
SIGINT, which saves a checkpoint; running the same command again resumes):

    TRAIN_SECONDS=1080 bash experiments/flows/run_timed.sh realnvp_fmnist
    # = timeout -s INT 1080 nice -n 19 jaxgen train --config experiments/flows/realnvp_fmnist.py --workdir runs/flows/realnvp_fmnist
    #   nice -n 19 jaxgen eval --workdir runs/flows/realnvp_fmnist --metrics nll,sample_time,pictures,fid,kid
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "realnvp"
    c.dataset = "fashion_mnist"
    c.num_levels = 2
    c.steps_per_level = 3
    c.hidden = 32
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
