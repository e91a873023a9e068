"""Hierarchical VAE on Fashion-MNIST, planned for ~20 minutes of a shared 2-core CPU:
two 4x4, two 7x7 and one 14x14 latent group of 8 channels, width 32, a mixture
of 5 discretized logistics, 3500 steps of batch 64 (3.7 epochs). A step took
0.28 s at load 9; the run took 65 min of wall time at load 7-26
(experiments/results/vae.md).

    nice -n 19 jaxgen train --config experiments/vae/hvae.py --workdir runs/hvae --no-progress
    nice -n 19 jaxgen eval --workdir runs/hvae --metrics elbo,nll,pictures,fid --num 10000
    # a tighter bound: --config.iwae_samples=1000 (K up to 1000 fits: iwae_chunk_size at a time)
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "hvae"
    c.seed = 0
    c.batch_size = 64
    c.steps = 3500
    c.optim = ml_collections.ConfigDict({"learning_rate": 2e-3, "warmup_steps": 200,
                                         "schedule": "cosine", "final_lr_fraction": 0.1,
                                         "grad_clip_norm": 100.0})
    c.width = 32
    c.groups_per_scale = (2, 2, 1)
    c.latent_channels = 8
    c.num_mixtures = 5
    c.conv = "flax"
    c.kl_warmup_steps = 1000
    c.kl_balance = True
    c.logvar_clamp = 5.0
    c.grad_skip_threshold = 400.0
    c.log_every = 50
    c.eval_every = 500
    c.eval_batches = 4
    c.sample_every = 500
    c.ckpt_every = 500
    return c
