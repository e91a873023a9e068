"""Trilemma entry `ddgan`: denoising diffusion GAN, T = 4.
Starting point: experiments/ddgan/fmnist.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 0.5
RATE_SOURCE = "experiments/results/ddgan.md: 447 steps in 1041 s and 600 in 909 s (0.43-0.66 steps/s)"


def get_config():
    c = starting_point("ddgan/fmnist.py")
    return c
