"""Trilemma entry `cgan`: class-conditional DCGAN; unconditional rows sample a uniformly drawn class per image.
Starting point: experiments/gan/cgan_fmnist.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 0.71
RATE_SOURCE = "jaxgen list cpu_note: 0.71 steps/s on the shared 2 cores (load ~10)"


def get_config():
    c = starting_point("gan/cgan_fmnist.py")
    return c
