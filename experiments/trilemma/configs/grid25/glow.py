"""Trilemma grid25 entry `glow`: Glow, 8 steps of actnorm, 2x2 LU mixing and affine coupling.
Starting point: experiments/flows/glow_moons.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _points import starting_point  # noqa: E402

STEPS_PER_SEC = 20.0
RATE_SOURCE = "estimate, not measured"


def get_config():
    c = starting_point("flows/glow_moons.py")
    c.dataset = "grid25"
    return c
