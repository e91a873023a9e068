"""Trilemma entry `dcgan`: DCGAN.
Starting point: experiments/gan/dcgan_fmnist.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 0.86
RATE_SOURCE = "jaxgen list cpu_note: 0.86 steps/s on the shared 2 cores (load ~10)"


def get_config():
    c = starting_point("gan/dcgan_fmnist.py")
    return c
