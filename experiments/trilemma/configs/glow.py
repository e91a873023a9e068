"""Trilemma entry `glow`: Glow, 2 levels x 4 steps, 48-channel conditioners.
Starting point: experiments/flows/glow_fmnist.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 3.2
RATE_SOURCE = "experiments/results/flows.md: 1740 steps in 540 s at load 2-4"


def get_config():
    c = starting_point("flows/glow_fmnist.py")
    return c
