"""Trilemma entry `realnvp`: RealNVP, 2 levels, 32-channel conditioners.
Starting point: experiments/flows/realnvp_fmnist.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 1.14
RATE_SOURCE = "experiments/results/flows.md: 613 steps in 540 s at load 2-4"


def get_config():
    c = starting_point("flows/realnvp_fmnist.py")
    return c
