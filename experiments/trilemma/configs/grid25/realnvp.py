"""Trilemma grid25 entry `realnvp`: RealNVP, 8 affine couplings with MLP conditioners.
Starting point: experiments/flows/realnvp_moons.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _points import starting_point  # noqa: E402

STEPS_PER_SEC = 20.0
RATE_SOURCE = "estimate, not measured"


def get_config():
    c = starting_point("flows/realnvp_moons.py")
    c.dataset = "grid25"
    return c
