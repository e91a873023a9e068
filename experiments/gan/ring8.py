"""Best configuration of the mode-collapse lab on ring8 (experiments/results/gan.md): WGAN-GP
with the lab's MLPs (penalty 0.1, 5 critic updates of 64 points, cosine learning-rate decay).

    nice -n 19 jaxgen train --config experiments/gan/ring8.py --workdir runs/gan/ring8 --config.seed=0
    nice -n 19 jaxgen eval --workdir runs/gan/ring8 --metrics modes --num 2500
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "wgan_gp"
    c.dataset = "ring8"
    c.arch = "mlp"
    c.latent_dim = 2
    c.g_hidden = (128, 128, 128)
    c.d_hidden = (128, 128, 128)
    c.activation = "relu"
    c.d_dropout = 0.0
    c.gp_weight = 0.1
    c.batch_size = 5 * 64
    c.g_learning_rate = 1e-3
    c.d_learning_rate = 1e-3
    c.steps = 2000
    c.lr_decay_steps = 2000
    c.steps_per_call = 100
    c.log_every = 500
    c.num_grid = 1000
    c.seed = 0
    return c
