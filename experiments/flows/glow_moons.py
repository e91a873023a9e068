"""Glow on the 2-D toy distribution `moons`: 8 steps of actnorm,
2x2 LU "1x1 convolution" and affine coupling (MLP conditioners); density heat-map via `pictures`.

    nice -n 19 jaxgen train --config experiments/flows/glow_moons.py --workdir runs/flows/glow_moons
    nice -n 19 jaxgen eval --workdir runs/flows/glow_moons --metrics nll,pictures --num 10000
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "glow"
    c.dataset = "moons"
    c.toy_steps = 8
    c.hidden = 64
    c.num_blocks = 1
    c.batch_size = 256
    c.steps = 4000
    c.optim = ml_collections.ConfigDict()
    c.optim.learning_rate = 1e-3
    c.log_every = 200
    c.eval_every = 1000
    c.ckpt_every = 2000
    c.sample_every = 4000
    c.seed = 0
    return c
