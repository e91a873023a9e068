"""Gated PixelCNN with a discretized logistic mixture output (PixelCNN++'s
likelihood) on Fashion-MNIST: the best model this CPU budget allows
(~30 min of training on a 2-core CPU shared with other jobs).

    nice -n 19 jaxgen train --config experiments/autoregressive/gated_pixelcnn.py --workdir runs/ar_gated
    nice -n 19 jaxgen eval --workdir runs/ar_gated --metrics bpd,sampler_speedup --num 10000
    nice -n 19 jaxgen sample --workdir runs/ar_gated --num 64 --out runs/ar_gated/samples64.png
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "pixelcnn"
    c.architecture = "gated"
    c.head = "logistic_mixture"
    c.num_mixtures = 5
    c.hidden_channels = 32
    c.num_layers = 6
    c.kernel_size = 3
    c.first_kernel_size = 7
    c.head_hidden = 64
    c.batch_size = 16
    c.steps = 1500
    c.optim = ml_collections.ConfigDict()
    c.optim.learning_rate = 2e-3
    c.optim.schedule = "cosine"   # to final_lr_fraction (the family's 10%) over decay_steps
    c.optim.decay_steps = 1500
    c.log_every = 25
    c.eval_every = 250
    c.eval_batches = 10       # 160 test images per periodic eval (the final eval uses all)
    c.sample_every = 750
    c.ckpt_every = 250
    c.num_grid = 16
    c.seed = 0
    return c
