"""Trilemma entry `latent_diffusion`: the `ddpm` family on the codes of the VAE of
latent_vae.py (MLP denoiser, width 256, 3 blocks), unconditional, DDIM 50 steps.
Each stage trains for half of the budget. Starting point:
experiments/diffusion/latent_vae32.py; run.py puts the VAE's workdir in
`latent_vae_workdir` (DEPENDS).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 2.2
RATE_SOURCE = "experiments/results/diffusion.md: idle rate ~2.2 steps/s of the latent MLP"
BUDGET_SHARE = 0.5
DEPENDS = {"latent_vae_workdir": "latent_vae"}
VARIANTS = {"latent_diffusion_ddim_50": {"sampler": "ddim", "sample_steps": "50"}}


def get_config():
    c = starting_point("diffusion/latent_vae32.py")
    c.conditional = False
    c.label_dropout = 0.0
    c.num_grid = 64
    return c
