"""Trilemma entry `hvae`: hierarchical VAE (ladder of 4x4, 7x7, 14x14 latent groups).
Starting point: experiments/vae/hvae.py. The KL warm-up is scaled with the run (a fifth of it, as 1000 of 3500 steps).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 0.9
RATE_SOURCE = "experiments/vae/hvae.py: 3500 steps in 65 min at load 7-26"
SCHEDULE = {"kl_warmup_steps": 1000 / 3500}   # the KL warm-up keeps its share of the run


def get_config():
    c = starting_point("vae/hvae.py")
    return c
