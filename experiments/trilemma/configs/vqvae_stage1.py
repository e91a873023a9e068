"""Trilemma stage `vqvae_stage1`: the VQ-VAE autoencoder (EMA codebook, K = 128, 8x8
grid) whose codes the prior of vqvae.py models; half of the VQ-VAE's budget, not a row.
Starting point: experiments/vqvae/vqvae_ema.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 1.69
RATE_SOURCE = "experiments/results/vqvae.md: 900 steps in 8 min 54 s at load 6-9"
BUDGET_SHARE = 0.5
ROW = False


def get_config():
    return starting_point("vqvae/vqvae_ema.py")
