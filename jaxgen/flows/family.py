"""`realnvp` and `glow` families: glue between the flow, the dequantization and the engine.

Both are exact-likelihood models trained by maximum likelihood:
  images (Fashion-MNIST, uint8): loss = -[log p_flow(logit(dequantized x)) + log-dets
          - D log 256 - log q(u | x)] nats per image, an upper bound on the discrete
          NLL (see dequantization.py), also logged as bits/dim; the noise u is
          uniform (log q = 0) or, with `dequantization=variational`, drawn from a
          learned q(u | x) trained jointly with the flow;
  2-D toy data: loss = -log p(x) nats per point, exact.
The family name picks the architecture (models.py); everything else is shared.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import optax

from jaxgen import data
from jaxgen.engine.config import base_config
from jaxgen.engine.state import TrainState, apply_gradients
from jaxgen.errors import ConfigError
from jaxgen.flows import dequantization as deq
from jaxgen.flows import models
from jaxgen.metrics import bits_per_dim
from jaxgen.nn.fast_conv import CONV_CHOICES
from jaxgen.registry import Family, register

IMAGE_SHAPE = (28, 28, 1)
POINT_SHAPE = (1, 1, 2)  # 2-D points go through the flow as 1x1 images with 2 channels
DEQUANTIZATIONS = ("uniform", "variational")


def default_config(family: str):
    c = base_config()
    c.family = family
    c.batch_size = 64
    c.steps = 3000
    c.learning_rate = 1e-3       # Adam
    c.warmup_steps = 200         # linear learning-rate warm-up: early flow updates are large
    c.grad_clip = 100.0          # global-norm clip
    # Images: levels of the multi-scale architecture and steps per level (models.py).
    c.num_levels = 3 if family == "realnvp" else 2
    c.steps_per_level = 3 if family == "realnvp" else 4
    c.hidden = 64                # conditioner width (conv channels / Dense units)
    c.num_blocks = 1             # residual blocks (images) / extra hidden layers (2-D)
    c.conv = "flax"              # conditioner convs, fast_conv.conv3x3: "flax" (faster here) or "fast"
    c.toy_steps = 8              # 2-D data: couplings (realnvp) / steps (glow), one level
    c.logit_alpha = 0.05         # logit(alpha + (1 - 2 alpha) y), RealNVP's pre-processing
    c.dequantization = "uniform"  # or "variational": noise from a learned q(u | x) (Flow++)
    c.deq_hidden = 32            # variational: conditioner width of q's flow
    c.deq_couplings = 2          # variational: checkerboard couplings in q's flow
    c.temperature = 1.0          # sampling: z ~ N(0, temperature^2 I) (Glow)
    return c


def uses_points(config) -> bool:
    return data.is_toy(config.dataset)


def uses_variational_dequantization(config) -> bool:
    return config.dequantization == "variational"  # images only (validate)


def validate(config) -> None:
    if config.dequantization not in DEQUANTIZATIONS:
        raise ConfigError(f"dequantization must be one of {DEQUANTIZATIONS}, "
                          f"got {config.dequantization!r}")
    if uses_points(config) and config.dequantization != "uniform":
        raise ConfigError("dequantization applies to 8-bit images; 2-D data are continuous "
                          "(leave dequantization=uniform)")
    if config.deq_hidden < 1 or config.deq_couplings < 0:
        raise ConfigError("deq_hidden must be >= 1 and deq_couplings >= 0, got "
                          f"{config.deq_hidden} and {config.deq_couplings}")
    if config.conv not in CONV_CHOICES:
        raise ConfigError(f"conv must be one of {CONV_CHOICES}, got {config.conv!r}")
    if data.kind(config) not in ("images", "points"):
        raise ConfigError(f"{config.family} needs an image or 2-D dataset, got {config.dataset!r}")
    for key in ("hidden", "steps_per_level", "toy_steps"):
        if config[key] < 1:
            raise ConfigError(f"config key {key!r} must be >= 1, got {config[key]}")
    if config.num_blocks < 0:
        raise ConfigError(f"config key 'num_blocks' must be >= 0, got {config.num_blocks}")
    if not 0.0 < config.logit_alpha < 0.5:
        raise ConfigError(f"logit_alpha must be in (0, 0.5), got {config.logit_alpha}")
    if config.temperature <= 0:
        raise ConfigError(f"temperature must be > 0, got {config.temperature}")
    if config.learning_rate <= 0 or config.grad_clip <= 0 or config.warmup_steps < 0:
        raise ConfigError("learning_rate and grad_clip must be > 0, warmup_steps >= 0")
    if not uses_points(config):
        try:
            models.check_architecture(config.family, IMAGE_SHAPE, config.num_levels)
        except ValueError as err:
            raise ConfigError(f"bad num_levels for {config.family}: {err}") from err


def data_shape(config):
    return POINT_SHAPE if uses_points(config) else IMAGE_SHAPE


def make_flow(config) -> models.Flow:
    points = uses_points(config)
    return models.Flow(architecture=config.family, image_shape=data_shape(config),
                       num_levels=1 if points else config.num_levels,
                       steps_per_level=config.toy_steps if points else config.steps_per_level,
                       hidden=config.hidden, num_blocks=config.num_blocks,
                       conv=config.conv)


def make_dequantizer(config) -> deq.VariationalDequantizer:
    return deq.VariationalDequantizer(hidden=config.deq_hidden, num_blocks=config.num_blocks,
                                      num_couplings=config.deq_couplings, conv=config.conv)


def split_params(config, params):
    """(the flow's params, the dequantizer's or None): with variational
    dequantization the trained params are {"flow": ..., "dequantizer": ...}."""
    if uses_variational_dequantization(config):
        return params["flow"], params["dequantizer"]
    return params, None


def make_optimizer(config):
    schedule = optax.linear_schedule(0.0, config.learning_rate, max(config.warmup_steps, 1))
    return optax.chain(optax.clip_by_global_norm(config.grad_clip), optax.adam(schedule))


def variables(params, extra):
    """Linen variables: trainable params plus fixed constants (the 1x1 convs' P and sign)."""
    return {"params": params, **(extra or {})}


def flow_log_prob(config, flow_params, extra, x):
    """log p(x) of flow inputs x [B, H, W, C] under the flow and its N(0, I) prior. [B]"""
    z, log_det = make_flow(config).apply(variables(flow_params, extra), x)
    return models.standard_normal_log_prob(z) + log_det


def _as_points(points):
    return points.reshape(points.shape[0], *POINT_SHAPE)  # [B, 2] -> [B, 1, 1, 2]


def log_likelihood_from_params(config, params, extra, batch, key):
    """Nats per example: exact for 2-D points, the dequantization bound for images. [B]"""
    if uses_points(config):
        return flow_log_prob(config, params, extra, _as_points(batch["point"]))
    pixels = batch["image"]
    flow_params, deq_params = split_params(config, params)
    if deq_params is None:
        noise, log_q = jax.random.uniform(key, pixels.shape), 0.0
    else:
        noise, log_q = make_dequantizer(config).apply(
            {"params": deq_params}, pixels, jax.random.normal(key, pixels.shape))
    return deq.discrete_log_likelihood_bound(
        functools.partial(flow_log_prob, config, flow_params, extra), pixels, noise,
        config.logit_alpha, log_q)


def init(config, key, sample_batch) -> TrainState:
    """Parameters from `key`; actnorm layers are initialised from `sample_batch`."""
    validate(config)
    k_params, k_noise = jax.random.split(key)
    if uses_points(config):
        x = _as_points(sample_batch["point"])
    else:
        pixels = sample_batch["image"]
        x, _ = deq.pixels_to_flow_input(pixels, jax.random.uniform(k_noise, pixels.shape),
                                        config.logit_alpha)
    all_vars = dict(make_flow(config).init(k_params, x))
    params = all_vars.pop("params")
    extra = all_vars or None  # "constants" of the 1x1 convolutions (glow), else nothing
    if uses_variational_dequantization(config):
        pixels = sample_batch["image"]
        deq_vars = make_dequantizer(config).init(jax.random.fold_in(k_params, 1), pixels,
                                                 jnp.zeros(pixels.shape, jnp.float32))
        params = {"flow": params, "dequantizer": deq_vars["params"]}
    return TrainState.create(params, make_optimizer(config).init(params), extra=extra)


def loss_fn(config, params, extra, batch, key):
    """(mean NLL in nats per example, metrics); `key` draws the dequantization noise."""
    nll = -log_likelihood_from_params(config, params, extra, batch, key)  # [B]
    loss = jnp.mean(nll)
    metrics = {"loss": loss}
    if not uses_points(config):
        metrics["bpd"] = bits_per_dim(loss, math.prod(IMAGE_SHAPE))
    return loss, metrics


def train_step(config, state, batch, key):
    (_, metrics), grads = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)(
        config, state.params, state.extra, batch, key)
    return apply_gradients(state, grads, make_optimizer(config)), metrics


def eval_step(config, state, batch, key):
    return loss_fn(config, state.params, state.extra, batch, key)[1]


def log_likelihood(config, state, batch, key):
    """Test-time log-likelihood, nats per example [B] (images: lower bound, one noise draw)."""
    return log_likelihood_from_params(config, state.params, state.extra, batch, key)


def sample(config, state, key, num: int, cond=None):
    """z ~ N(0, temperature^2 I) pushed through the inverse flow: images [num, 28, 28, 1]
    in [0, 1] (8-bit values / 255), or points [num, 2] for 2-D data."""
    if cond is not None:
        raise ConfigError(f"{config.family} is unconditional; do not pass a class")
    shape = data_shape(config)
    z = config.temperature * jax.random.normal(key, (num, math.prod(shape)))
    flow_params, _ = split_params(config, state.params)
    x, _ = make_flow(config).apply(variables(flow_params, state.extra), z, inverse=True)
    if uses_points(config):
        return x.reshape(num, 2)
    return deq.flow_output_to_unit(x, config.logit_alpha)


def _register():
    from jaxgen.flows import evaluation
    common = dict(init=init, train_step=train_step, sample=sample, eval_step=eval_step,
                  log_likelihood=log_likelihood, evaluations=evaluation.EVALUATIONS,
                  pictures=evaluation.pictures)
    register(Family(name="realnvp",
                    description="RealNVP flow: checkerboard/channel affine couplings, squeeze, "
                                "multi-scale; dequantized logits (images) or 2-D toy densities",
                    default_config=lambda: default_config("realnvp"), **common))
    register(Family(name="glow",
                    description="Glow flow: actnorm, LU 1x1 convolutions, affine couplings, "
                                "multi-scale; sampling with temperature",
                    default_config=lambda: default_config("glow"), **common))


_register()
