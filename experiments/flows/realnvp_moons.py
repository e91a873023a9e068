"""RealNVP on the 2-D toy distribution `moons`: 8 affine couplings with
alternating halves and MLP conditioners; density heat-map via `pictures`.

    nice -n 19 jaxgen train --config experiments/flows/realnvp_moons.py --workdir runs/flows/realnvp_moons
    nice -n 19 jaxgen eval --workdir runs/flows/realnvp_moons --metrics nll,pictures --num 10000
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "realnvp"
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
