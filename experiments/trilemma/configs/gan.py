"""Trilemma entry `gan`: the course's MLP GAN (non-saturating loss).
Starting point: experiments/gan/gan_fmnist.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 5.4
RATE_SOURCE = "jaxgen list cpu_note: 5.4 steps/s on the shared 2 cores (load ~10)"


def get_config():
    c = starting_point("gan/gan_fmnist.py")
    return c
