"""Trilemma entry `vae`: VAE, 32-D latent, discretized-logistic decoder (a likelihood in bits/dim).
Starting point: experiments/vae/vae_latent32.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 1.43
RATE_SOURCE = "jaxgen list cpu_note: ~0.7 s/step on the shared 2 cores"


def get_config():
    c = starting_point("vae/vae_latent32.py")
    return c
