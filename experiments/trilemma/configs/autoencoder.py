"""Trilemma entry `autoencoder`: the course's plain autoencoder (2-D code, samples from a Gaussian fitted to the codes).
Starting point: experiments/vae/autoencoder_latent2.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 1.18
RATE_SOURCE = "jaxgen list cpu_note: ~0.85 s/step on the shared 2 cores"


def get_config():
    c = starting_point("vae/autoencoder_latent2.py")
    return c
