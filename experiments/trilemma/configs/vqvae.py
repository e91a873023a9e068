"""Trilemma entry `vqvae`: the Gated PixelCNN prior over the codes of vqvae_stage1.py
(the whole generative model: the prior run holds the frozen stage 1); half of
the budget, the stage-1 run the other half. Starting point:
experiments/vqvae/prior.py; run.py puts the stage-1 workdir in `vq_workdir`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 2.33
RATE_SOURCE = "experiments/results/vqvae.md: 1500 prior steps in 10 min 44 s at load 6-9"
BUDGET_SHARE = 0.5
DEPENDS = {"vq_workdir": "vqvae_stage1"}


def get_config():
    return starting_point("vqvae/prior.py")
