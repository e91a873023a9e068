"""Trilemma entry `wgan_gp`: WGAN-GP (gradient penalty, 5 critic updates per G update).
Starting point: experiments/gan/wgan_gp_fmnist.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 0.26
RATE_SOURCE = "jaxgen list cpu_note: 0.26 steps/s on the shared 2 cores (load ~10)"


def get_config():
    c = starting_point("gan/wgan_gp_fmnist.py")
    return c
