"""Trilemma entry `ddpm`: pixel-space DDPM (eps prediction, linear schedule, T = 1000),
the small U-Net of experiments/diffusion/pixel_cond.py made unconditional (the
other rows sample without a class too). One trained workdir, four rows: the
samplers are config keys of `jaxgen eval`, so no row retrains.
Starting point: experiments/diffusion/pixel_cond.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 0.21
RATE_SOURCE = "jaxgen list cpu_note: 4.8 s a step of pixel_cond.py at load ~11"
VARIANTS = {  # cheapest sampler first: the rows are evaluated in this order
    "ddim_10": {"sampler": "ddim", "sample_steps": "10"},
    "ddim_50": {"sampler": "ddim", "sample_steps": "50"},
    "ddpm_50": {"sampler": "ddpm", "sample_steps": "50"},
    "ddpm_1000": {"sampler": "ddpm", "sample_steps": "1000"},
}


def get_config():
    c = starting_point("diffusion/pixel_cond.py")
    c.conditional = False
    c.label_dropout = 0.0
    c.num_grid = 64
    return c
