"""Trilemma grid25 entry `gan`: the lab-goal recipe (hinge GAN, gradient penalty 0.1, generator EMA).
Starting point: experiments/gan/grid25.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _points import starting_point  # noqa: E402

STEPS_PER_SEC = 40.0
RATE_SOURCE = "estimate, not measured (MLPs of 128 on 2-D points, 500 steps fused per call)"
SCHEDULE = {"optim.g.decay_steps": 1.0, "optim.d.decay_steps": 1.0}  # cosine over the run


def get_config():
    c = starting_point("gan/grid25.py")
    c.dataset = "grid25"
    return c
