"""`ddgan` family: the denoising diffusion GAN (Xiao et al., ICLR 2022). The face:
default config, validation, registration (the work is in models, losses, steps,
sampling, pictures; the schedules and the posterior are the diffusion package's).

A diffusion model of very few levels (T = 2..4) whose large reverse steps are
a conditional GAN: G predicts x0 from (x_t, t, z), x_{t-1} is drawn from the
posterior q(x_{t-1} | x_t, x0), and a time-conditioned D judges
(x_{t-1}, x_t, t) with the non-saturating loss and R1 on real x_{t-1}.
Sampling: T generator calls from N(0, I). Unconditional, images only.
"""
from __future__ import annotations

import ml_collections

from jaxgen import data
from jaxgen.diffusion import schedules
from jaxgen.diffusion.ddgan import pictures, sampling, steps
from jaxgen.diffusion.family import check_unet_fits
from jaxgen.engine import optim
from jaxgen.engine.config import base_config
from jaxgen.errors import ConfigError
from jaxgen.nn.fast_conv import CONV_CHOICES
from jaxgen.registry import Family, register

CPU_NOTE = "on a 2-core CPU use experiments/ddgan/fmnist.py (a smaller U-Net and D)"


def default_config():
    """The paper's choices scaled down: T = 4 levels of the discretised VP
    schedule (beta 0.1 .. 20), latent of 100, R1 gamma 0.05, Adam with
    b1 0.5, b2 0.9, G's EMA 0.999."""
    c = base_config()
    c.family = "ddgan"
    c.batch_size = 64
    c.steps = 10000
    c.optim = ml_collections.ConfigDict({
        "g": optim.optim_config(learning_rate=1.6e-4, b1=0.5, b2=0.9),
        "d": optim.optim_config(learning_rate=1.25e-4, b1=0.5, b2=0.9)})
    c.ema_decay = 0.999
    c.ema_warmup = True          # decay min(ema_decay, (1 + t) / (10 + t)) at step t
    c.sample_with_ema = True
    # Forward process (jaxgen/diffusion/schedules.py).
    c.num_timesteps = 4
    c.schedule = "vp"            # the paper's; "linear" / "cosine" also work
    c.beta_min = 0.1             # vp
    c.beta_max = 20.0
    c.beta_start = 1e-4          # linear, given for T = 1000
    c.beta_end = 0.02
    # Generator: the diffusion U-Net with z added to its time embedding.
    c.latent_dim = 100
    c.mapping_layers = 2
    c.base_channels = 32
    c.channel_mults = (1, 2, 2)
    c.num_res_blocks = 1
    c.attention = False
    c.conv = "flax"              # or "fast" (jaxgen.nn.fast_conv, the same function)
    # Discriminator.
    c.d_channels = (32, 64, 128)
    c.d_conv = "flax"
    c.r1_gamma = 0.05            # R1 weight gamma: loss + gamma / 2 * E||grad D(real)||^2
    return c


def validate(config) -> None:
    data.require_kind(config, "ddgan", "images")
    if "image" not in data.spec(config).fields:
        raise ConfigError(f"ddgan models single images; {config.dataset!r} (source "
                          f"{config.source!r}) gives {sorted(data.spec(config).fields)}")
    if config.schedule not in schedules.SCHEDULES:
        raise ConfigError(f"schedule must be one of {schedules.SCHEDULES}, got {config.schedule!r}")
    for key in ("conv", "d_conv"):
        if config[key] not in CONV_CHOICES:
            raise ConfigError(f"{key} must be one of {CONV_CHOICES}, got {config[key]!r}")
    for name in steps.NETWORKS:
        optim.validate(config.optim[name], f"optim.{name}")
    checks = [
        (config.num_timesteps >= 1, f"num_timesteps must be >= 1, got {config.num_timesteps}"),
        (config.latent_dim >= 1, f"latent_dim must be >= 1, got {config.latent_dim}"),
        (config.mapping_layers >= 0, f"mapping_layers must be >= 0, got {config.mapping_layers}"),
        (config.r1_gamma >= 0, f"r1_gamma must be >= 0, got {config.r1_gamma}"),
        (0 <= config.ema_decay < 1, f"ema_decay must be in [0, 1), got {config.ema_decay}"),
        (0 < config.beta_min < config.beta_max,
         f"need 0 < beta_min < beta_max, got {config.beta_min}, {config.beta_max}"),
        (0 < config.beta_start < config.beta_end < 1,
         f"need 0 < beta_start < beta_end < 1, got {config.beta_start}, {config.beta_end}"),
        (config.base_channels >= 1 and config.base_channels % min(8, config.base_channels) == 0,
         f"base_channels must be a multiple of 8 or below 8, got {config.base_channels}"),
        (len(config.d_channels) >= 1 and all(c >= 1 for c in config.d_channels),
         f"d_channels must be positive ints, got {config.d_channels}"),
        (config.num_res_blocks >= 1, f"num_res_blocks must be >= 1, got {config.num_res_blocks}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    check_unet_fits(config)


def init(config, key, sample_batch):
    validate(config)
    return steps.init(config, key, sample_batch)


register(Family(
    name="ddgan",
    description="denoising diffusion GAN (Xiao et al. 2022): T = 2..4 levels, G predicts x0 "
                "from (x_t, t, z), posterior step, time-conditioned D with R1",
    default_config=default_config, init=init, train_step=steps.train_step,
    sample=sampling.sample, eval_step=steps.eval_step,
    evaluations={"pictures": pictures.pictures_metric}, pictures=pictures.write_pictures,
    network_evals=sampling.network_evals, cpu_note=CPU_NOTE,
    compute_dtypes=("float32", "bfloat16")))  # models.py threads it
