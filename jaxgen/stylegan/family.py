"""`stylegan`: a small StyleGAN2-style generator, its config, checks and registration.

Mapping network z -> w, a learned 4x4 constant, modulated / demodulated 3x3
convolutions (jaxgen.nn.modulated) with per-layer noise from explicit keys,
style-mixing regularisation, the truncation trick around a tracked mean w
(`truncation` is read at sampling, so `jaxgen eval --config.truncation=0.7`
measures a truncated generator), and a residual discriminator trained with
the shared non-saturating loss (any of jaxgen.nn.adversarial.LOSSES) and an
R1 penalty. Path-length regularisation is not implemented.

Networks in models.py, R1 / mixing / truncation in losses.py, the train step
in steps.py, sampling in sampling.py, pictures in pictures.py.
"""
from __future__ import annotations

import ml_collections

from jaxgen import data
from jaxgen.engine import optim
from jaxgen.engine.config import base_config
from jaxgen.errors import ConfigError
from jaxgen.nn.fast_conv import CONV_CHOICES
from jaxgen.registry import Family, register
from jaxgen.stylegan import losses, pictures, sampling, steps
from jaxgen.stylegan.models import num_resolutions

SAMPLE_FROM = ("raw", "ema")
# StyleGAN2's Adam has beta1 0 and beta2 0.99; the learning rate is lower than
# its 2e-3 because only the modulated convs here have the equalised learning rate.
STYLEGAN_OPTIM = dict(name="adam", learning_rate=5e-4, b1=0.0, b2=0.99)

CPU_NOTE = ("default sized for a 2-core CPU (32x32 synthesis, widths <= 128); "
            "use experiments/gan/stylegan.py for the Fashion-MNIST run")


def default_config() -> ml_collections.ConfigDict:
    c = base_config()
    c.family = "stylegan"
    c.batch_size = 32
    c.steps = 5000
    c.latent_dim = 64
    c.w_dim = 64
    c.mapping_depth = 4          # Dense layers of the mapping network (StyleGAN: 8)
    c.g_channels = (128, 64, 64, 32)  # synthesis widths at 4x4, 8x8, 16x16, 32x32
    c.d_channels = (32, 64, 64, 128)  # discriminator widths at 32x32, 16x16, 8x8, 4x4
    c.conv = "fast"              # "fast" (GEMM convs, quick on CPU) or "flax" (XLA's)
    c.noise = True               # per-layer noise inputs
    c.loss = "non_saturating"    # one of jaxgen.nn.adversarial.LOSSES
    c.r1_gamma = 1.0             # > 0: gamma / 2 * E ||grad_x D(x_real)||^2
    c.style_mixing = 0.9         # probability that a training example mixes two w's
    c.truncation = 1.0           # psi at sampling (1: no truncation)
    c.w_avg_decay = 0.995        # EMA of the mapping's outputs (truncation centre)
    c.ema_decay = 0.999          # > 0: keep an EMA of G's weights
    c.sample_from = "ema"
    c.optim = ml_collections.ConfigDict({name: optim.optim_config(**STYLEGAN_OPTIM)
                                         for name in steps.NETWORKS})
    return c


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def validate(config) -> None:
    _check(config.loss in losses.LOSSES,
           f"config key 'loss' must be one of {losses.LOSSES}, got {config.loss!r}")
    _check(config.sample_from in SAMPLE_FROM,
           f"config key 'sample_from' must be one of {SAMPLE_FROM}, got {config.sample_from!r}")
    _check(config.conv in CONV_CHOICES,
           f"config key 'conv' must be one of {CONV_CHOICES}, got {config.conv!r}")
    for key in ("latent_dim", "w_dim"):
        _check(config[key] >= 1, f"config key {key!r} must be >= 1, got {config[key]}")
    _check(config.mapping_depth >= 0,
           f"config key 'mapping_depth' must be >= 0, got {config.mapping_depth}")
    _check(config.r1_gamma >= 0, f"config key 'r1_gamma' must be >= 0, got {config.r1_gamma}")
    _check(0.0 <= config.style_mixing <= 1.0,
           f"config key 'style_mixing' must be in [0, 1], got {config.style_mixing}")
    for key in ("w_avg_decay", "ema_decay"):
        _check(0.0 <= config[key] < 1.0, f"config key {key!r} must be in [0, 1), got {config[key]}")
    _check(not (config.sample_from == "ema" and config.ema_decay == 0),
           "sample_from='ema' needs ema_decay > 0 (no EMA is kept)")
    for name in steps.NETWORKS:
        optim.validate(config.optim[name], f"optim.{name}")
    data.require_kind(config, "stylegan", "images")
    spec = data.spec(config)
    _check("image" in spec.fields,
           f"stylegan trains on single images; source {config.source!r} gives "
           f"{sorted(spec.fields)}")
    height, width, _ = spec.image_shape
    res = num_resolutions(height, width)
    for key in ("g_channels", "d_channels"):
        _check(len(config[key]) == res and min(config[key]) >= 1,
               f"{key} {tuple(config[key])}: {height}x{width} images are synthesised at "
               f"{res} resolutions from 4x4, so {key} needs {res} positive widths")


def init(config, key, sample_batch):
    validate(config)
    return steps.init(config, key, sample_batch)


register(Family(
    name="stylegan",
    description="StyleGAN2-style generator: mapping network, modulated/demodulated convs, "
                "noise inputs, style mixing, truncation; residual D with R1",
    default_config=default_config, init=init, train_step=steps.train_step,
    sample=sampling.sample, eval_step=steps.eval_step,
    evaluations={"pictures": pictures.pictures_metric}, pictures=pictures.pictures,
    network_evals=lambda config: 1, cpu_note=CPU_NOTE))
