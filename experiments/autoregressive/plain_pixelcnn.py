"""Plain PixelCNN (mask A, then residual mask-B blocks; has the blind spot)
with the classic 256-way softmax per pixel. A short run for the likelihood
table (~8 min on a 2-core CPU shared with other jobs).

    nice -n 19 jaxgen train --config experiments/autoregressive/plain_pixelcnn.py --workdir runs/ar_plain
    nice -n 19 jaxgen eval --workdir runs/ar_plain --metrics bpd --num 10000
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "pixelcnn"
    c.architecture = "plain"
    c.head = "softmax"
    c.hidden_channels = 32
    c.num_layers = 6
    c.kernel_size = 3
    c.first_kernel_size = 7
    c.head_hidden = 64
    c.batch_size = 16
    c.steps = 500
    c.optim = ml_collections.ConfigDict()
    c.optim.learning_rate = 2e-3
    c.optim.schedule = "cosine"   # to final_lr_fraction (the family's 10%) over decay_steps
    c.optim.decay_steps = 500
    c.log_every = 25
    c.eval_every = 250
    c.eval_batches = 10
    c.sample_every = 500
    c.ckpt_every = 250
    c.num_grid = 16
    c.seed = 0
    return c
