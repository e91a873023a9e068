"""Trilemma grid25 entry `ddpm`: the ddpm family's MLP denoiser (width 256, 3 residual
blocks) on the 2-D points, eps prediction, linear schedule, T = 1000; rows for
DDPM-1000 and DDIM-50 of the one trained workdir. Starting point: the family's
defaults (no experiments/ config trains ddpm on points).
"""
import ml_collections

STEPS_PER_SEC = 10.0
RATE_SOURCE = "estimate, not measured"
VARIANTS = {
    "ddpm_1000": {"sampler": "ddpm", "sample_steps": "1000"},
    "ddim_50": {"sampler": "ddim", "sample_steps": "50"},
}


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "ddpm"
    c.dataset = "grid25"
    c.batch_size = 256
    c.mlp_width = 256
    c.mlp_blocks = 3
    c.prediction = "eps"
    c.schedule = "linear"
    c.optim = ml_collections.ConfigDict({"learning_rate": 1e-3, "warmup_steps": 100})
    c.ema_decay = 0.995
    c.num_grid = 1000
    c.seed = 0
    return c
