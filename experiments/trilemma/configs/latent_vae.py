"""Trilemma stage `latent_vae`: the 32-D VAE that latent diffusion (latent_diffusion.py)
diffuses the codes of; trained with half of the latent model's budget, not a row itself.
Starting point: experiments/vae/vae_latent32.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 1.43
RATE_SOURCE = "jaxgen list cpu_note (vae): ~0.7 s/step on the shared 2 cores"
BUDGET_SHARE = 0.5
ROW = False


def get_config():
    return starting_point("vae/vae_latent32.py")
