"""Trilemma grid25 entry `wgan`: WGAN (weight clipping 0.01, 5 critic updates) with the lab's MLPs and the recipe's Adam schedule.
Starting point: experiments/gan/grid25.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _points import starting_point  # noqa: E402

STEPS_PER_SEC = 10.0
RATE_SOURCE = "estimate, not measured"
SCHEDULE = {"optim.g.decay_steps": 1.0, "optim.d.decay_steps": 1.0}  # cosine over the run


def get_config():
    c = starting_point("gan/grid25.py")
    c.dataset = "grid25"
    c.family = "wgan"
    c.loss = "wasserstein"
    c.gp_weight = 0.0
    c.clip_value = 0.01
    c.n_critic = 5
    c.batch_size = 5 * 256     # 256 real points per critic update
    c.steps_per_call = 100
    return c
