"""Trilemma entry `stylegan`: StyleGAN-style generator (R1, style mixing), sampled from the raw weights (short runs).
Starting point: experiments/gan/stylegan.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 0.3
RATE_SOURCE = "experiments/results/gan.md: 0.3 steps/s at step 225 on the heavily shared CPU"


def get_config():
    c = starting_point("gan/stylegan.py")
    c.sample_from = "raw"
    return c
