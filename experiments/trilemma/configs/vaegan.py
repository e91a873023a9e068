"""Trilemma entry `vaegan`: VAE-GAN (VAE with a discriminator's feature loss).
Starting point: experiments/vae/vaegan.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 0.51
RATE_SOURCE = "experiments/results/vae.md: 403 steps in 791 s of engine train time (gamma 1)"


def get_config():
    c = starting_point("vae/vaegan.py")
    return c
