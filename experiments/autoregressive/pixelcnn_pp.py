"""PixelCNN++ on Fashion-MNIST: the down / down-right streams of gated
residual blocks in a 28 -> 14 -> 7 U-Net with shortcut connections, and the
discretized logistic mixture likelihood (jaxgen/autoregressive/pixelcnn_pp.py).
Small enough that its 500 steps take a few minutes on a 2-core CPU; the
network has no cache API, so sampling is naive (one forward pass per pixel).

    nice -n 19 jaxgen train --config experiments/autoregressive/pixelcnn_pp.py --workdir runs/ar_pp
    nice -n 19 jaxgen eval --workdir runs/ar_pp --metrics bpd,sampler_speedup --num 10000
    nice -n 19 jaxgen sample --workdir runs/ar_pp --num 64 --out runs/ar_pp/samples64.png
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "pixelcnn"
    c.architecture = "pixelcnn_pp"
    c.sampler = "naive"       # pixelcnn_pp has no cached sampler
    c.head = "logistic_mixture"
    c.num_mixtures = 5
    c.hidden_channels = 16
    c.num_layers = 1          # gated residual blocks per resolution (28, 14, 7) on the way down
    c.kernel_size = 3         # [2, 3] down-shifted and [2, 2] down-right-shifted windows
    c.first_kernel_size = 3   # first layers: the row above (u), mask A (ul)
    c.head_hidden = 32
    c.dropout = 0.0
    c.batch_size = 16         # as the other 500-step runs in experiments/results/autoregressive.md
    c.steps = 500
    c.optim = ml_collections.ConfigDict()
    c.optim.learning_rate = 2e-3
    c.optim.schedule = "cosine"   # to final_lr_fraction (the family's 10%) over decay_steps
    c.optim.decay_steps = 500
    c.log_every = 25
    c.eval_every = 250
    c.eval_batches = 10       # 160 test images per periodic eval (the final eval uses all)
    c.sample_every = 500
    c.ckpt_every = 250
    c.num_grid = 16           # naive sampling: 784 forward passes of the whole network
    c.seed = 0
    return c
