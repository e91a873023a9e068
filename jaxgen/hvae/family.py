"""`hvae`: a hierarchical VAE (ladder / NVAE / VDVAE style, small), its config,
checks and registration.

Latent groups at several resolutions (default: two 4x4, two 7x7 and one 14x14
group of 8 channels for 28x28 images), a bottom-up encoder and a top-down
decoder shared by inference and generation (models.py), the posterior
relative to the prior and its closed-form KL (latents.py), a mixture of
discretized logistics on [0, 255] (losses.py), and the stability parts with
their keys (steps.py). Its log_likelihood is the importance-weighted bound
(K = iwae_samples), so the shared `nll` evaluation reports a bound in
bits/dim; `elbo` (evaluation.py) adds the ELBO, the KL of every
group and the active groups.
"""
from __future__ import annotations

from jaxgen import data
from jaxgen.engine import optim
from jaxgen.engine.config import base_config
from jaxgen.errors import ConfigError
from jaxgen.hvae import evaluation, sampling, steps
from jaxgen.nn.fast_conv import CONV_CHOICES
from jaxgen.registry import Family, register

CPU_NOTE = ("2-core CPU: ~0.28 s per step of experiments/vae/hvae.py (3500 steps; measured "
            "65 min under load 7-26); the default 20000 steps want an accelerator")


def default_config():
    c = base_config()
    c.family = "hvae"
    c.batch_size = 64
    c.steps = 20000
    c.optim = optim.optim_config(learning_rate=2e-3, warmup_steps=200, schedule="cosine",
                                 final_lr_fraction=0.1, grad_clip_norm=100.0)
    c.width = 32                 # channels of every cell and head
    c.groups_per_scale = (2, 2, 1)  # latent groups per scale, top (coarsest) first
    c.latent_channels = 8        # channels of every latent group
    c.blocks_per_scale = 1       # encoder residual cells per scale
    c.output_blocks = 1          # decoder residual cells at full resolution
    c.num_mixtures = 5           # discretized logistics per pixel and channel
    c.conv = "flax"              # or "fast" (nn.fast_conv): the same function; flax measured
                                 # 3.6x faster here (0.28 vs 1.02 s per default step, 2-core CPU)
    # Stability (steps.py).
    c.kl_warmup_steps = 2000     # beta rises linearly to 1 (0: none)
    c.kl_balance = True          # NVAE balancing of the group KLs during the warm-up
    c.logvar_clamp = 5.0         # log-variances are c * tanh(raw / c)
    c.grad_skip_threshold = 400.0  # skip updates with a larger gradient norm (0: never)
    c.max_skip_fraction = 0.01   # more skipped updates than this stops the run
    # Evaluation and sampling.
    c.iwae_samples = 100         # K of the importance-weighted bound (up to 1000 fits)
    c.iwae_chunk_size = 10       # posterior draws evaluated together (memory)
    c.temperature = 1.0          # of `sample`; the pictures show 1.0, 0.8 and 0.6
    c.sample_output = "mean"     # "mean" of the pixel mixture or an exact "draw"
    return c


def validate(config) -> None:
    data.require_kind(config, "hvae", "images")
    if len(config.groups_per_scale) < 1 or min(config.groups_per_scale) < 1:
        raise ConfigError(f"groups_per_scale must be one or more counts >= 1, got "
                          f"{config.groups_per_scale}")
    for key in ("width", "latent_channels", "num_mixtures", "iwae_samples",
                "iwae_chunk_size"):
        if config[key] < 1:
            raise ConfigError(f"{key} must be >= 1, got {config[key]}")
    for key in ("blocks_per_scale", "output_blocks", "kl_warmup_steps"):
        if config[key] < 0:
            raise ConfigError(f"{key} must be >= 0, got {config[key]}")
    if not config.logvar_clamp > 0:
        raise ConfigError(f"logvar_clamp must be > 0, got {config.logvar_clamp}")
    if not config.grad_skip_threshold >= 0:
        raise ConfigError(f"grad_skip_threshold must be >= 0 (0: never skip), got "
                          f"{config.grad_skip_threshold}")
    if not 0.0 <= config.max_skip_fraction <= 1.0:
        raise ConfigError(f"max_skip_fraction must be in [0, 1], got {config.max_skip_fraction}")
    if not config.temperature > 0:
        raise ConfigError(f"temperature must be > 0, got {config.temperature}")
    if config.sample_output not in sampling.OUTPUTS:
        raise ConfigError(f"sample_output must be one of {sampling.OUTPUTS}, got "
                          f"{config.sample_output!r}")
    if config.conv not in CONV_CHOICES:
        raise ConfigError(f"conv must be one of {CONV_CHOICES}, got {config.conv!r}")
    optim.validate(config.optim, "optim")


def init(config, key, sample_batch):
    validate(config)
    return steps.init(config, key, sample_batch)


register(Family(
    name="hvae",
    description="hierarchical VAE: latent groups at several resolutions, top-down "
                "(NVAE/VDVAE style), discretized-logistic mixture, IWAE bound",
    default_config=default_config, init=init, train_step=steps.train_step,
    sample=sampling.sample, log_likelihood=steps.log_likelihood,
    likelihood_kind=lambda config: "bound", eval_step=steps.eval_step,
    evaluations=evaluation.EVALUATIONS, pictures=evaluation.pictures,
    network_evals=lambda config: 1, train_log=steps.check_skips, cpu_note=CPU_NOTE))
