"""`ddpm` family: glue between the schedules, networks, losses, samplers and the engine.

One family covers every variant, selected by config keys (DESIGN.md: sampling
knobs are config keys, so `train`, `sample` and `eval` take the same overrides):

  data space    Fashion-MNIST pixels in [-1, 1] (U-Net); with
                `latent_vae_workdir` the latents of that trained VAE (MLP
                denoiser, samples decoded by the VAE); on the 2-D toy
                datasets the points themselves (MLP denoiser)
  prediction    eps | x0 | v            (the regression target; losses.py)
  schedule      linear | cosine         (schedules.py)
  sampler       ddpm | ddim, with sample_steps, eta, posterior_variance
  conditional   class label in; label_dropout trains the unconditional model
                alongside, guidance = w mixes them at sampling:
                out = (1 + w) out(x, y) - w out(x, none)

Latent diffusion is this family with one more key rather than a second
family: the objective, networks-as-functions, samplers and guidance are the
same code; only the map from a batch to the diffused vector and back changes
(`to_diffusion_space` / `from_diffusion_space`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxgen import data
from jaxgen.diffusion import latent, losses, samplers, schedules
from jaxgen.diffusion.models import MLPDenoiser, UNet
from jaxgen.engine.config import base_config, rename_keys
from jaxgen.engine.state import TrainState, apply_gradients
from jaxgen.errors import ConfigError
from jaxgen.nn.fast_conv import CONV_CHOICES
from jaxgen.registry import Family, register

IMAGE_SHAPE = (28, 28, 1)


def default_config():
    c = base_config()
    c.family = "ddpm"
    c.batch_size = 128
    c.steps = 3000
    c.learning_rate = 5e-4      # Adam, after a linear warmup
    c.warmup_steps = 200
    c.grad_clip = 1.0           # global gradient norm
    c.ema_decay = 0.999         # EMA of the weights, used to sample (sample_with_ema)
    c.sample_with_ema = True
    # Forward process.
    c.schedule = "linear"       # or "cosine"
    c.num_timesteps = 1000
    c.beta_start = 1e-4         # linear schedule, given for T = 1000
    c.beta_end = 0.02
    c.prediction = "eps"        # or "x0", "v"
    # U-Net (images).
    c.base_channels = 32
    c.channel_mults = (1, 2, 2)  # 28 -> 14 -> 7
    c.num_res_blocks = 1
    c.attention = True           # self-attention at the lowest resolution
    c.conv = "flax"              # or "fast": same function, see models.py
    # MLP denoiser (VAE latents, 2-D points).
    c.mlp_width = 256
    c.mlp_blocks = 3
    # Conditioning and classifier-free guidance.
    c.conditional = False
    c.label_dropout = 0.1        # probability that a training label becomes "none"
    c.guidance = 0.0             # w; 0 = the plain conditional model
    # Sampling.
    c.sampler = "ddim"           # or "ddpm"
    c.sample_steps = 50          # levels visited (evenly spaced; T = every level)
    c.eta = 0.0                  # ddim noise; 0 = deterministic, 1 = ddpm/beta_tilde
    c.posterior_variance = "beta_tilde"  # ddpm step variance (and the bound's), or "beta"
    c.clip_x0 = True             # clip predicted images to [-1, 1] while sampling
    # Likelihood: levels evaluated per image for the variational bound (T: exact sum).
    c.vb_timesteps = 100
    # Latent diffusion: workdir of a trained unconditional `vae` run ("" = pixel space).
    c.latent_vae_workdir = ""
    return c


def data_kind(config) -> str:
    """'latent', 'point' (2-D toy data) or 'image'."""
    if config.latent_vae_workdir:
        return "latent"
    return "point" if data.is_toy(config.dataset) else "image"


def _choice(config, key, choices):
    if config[key] not in choices:
        raise ConfigError(f"{key} must be one of {tuple(choices)}, got {config[key]!r}")


def validate(config) -> None:
    _choice(config, "schedule", schedules.SCHEDULES)
    _choice(config, "prediction", schedules.PREDICTIONS)
    _choice(config, "sampler", samplers.SAMPLERS)
    _choice(config, "posterior_variance", samplers.POSTERIOR_VARIANCES)
    _choice(config, "conv", CONV_CHOICES)
    T = config.num_timesteps
    checks = [
        (T >= 2, f"num_timesteps must be >= 2, got {T}"),
        (1 <= config.sample_steps <= T,
         f"sample_steps must be in 1..num_timesteps={T}, got {config.sample_steps}"),
        (2 <= config.vb_timesteps <= T,
         f"vb_timesteps must be in 2..num_timesteps={T}, got {config.vb_timesteps}"),
        (config.eta >= 0, f"eta must be >= 0, got {config.eta}"),
        (0 <= config.label_dropout < 1, f"label_dropout must be in [0, 1), got {config.label_dropout}"),
        (config.guidance >= 0, f"guidance must be >= 0, got {config.guidance}"),
        (0 <= config.ema_decay < 1, f"ema_decay must be in [0, 1), got {config.ema_decay}"),
        (0 < config.beta_start < config.beta_end < 1,
         f"need 0 < beta_start < beta_end < 1, got {config.beta_start}, {config.beta_end}"),
        (config.learning_rate > 0, f"learning_rate must be > 0, got {config.learning_rate}"),
        (config.base_channels >= 1 and config.base_channels % min(8, config.base_channels) == 0,
         "base_channels must be a multiple of 8 (GroupNorm groups) or below 8, "
         f"got {config.base_channels}"),
        (len(config.channel_mults) >= 1 and all(m >= 1 for m in config.channel_mults)
         and IMAGE_SHAPE[0] % 2 ** (len(config.channel_mults) - 1) == 0,
         f"channel_mults must be 1..3 positive ints (28 halves twice), got {config.channel_mults}"),
        (config.num_res_blocks >= 1, f"num_res_blocks must be >= 1, got {config.num_res_blocks}"),
        (config.mlp_width >= 1 and config.mlp_blocks >= 1, "mlp_width and mlp_blocks must be >= 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    if config.guidance > 0 and not (config.conditional and config.label_dropout > 0):
        raise ConfigError("guidance > 0 needs a conditional model trained with "
                          "label_dropout > 0 (it mixes the conditional and unconditional outputs)")
    if config.conditional and data.is_toy(config.dataset):
        raise ConfigError(f"conditional=True needs labelled data; {config.dataset!r} has none")
    if config.latent_vae_workdir and config.dataset != "fashion_mnist":
        raise ConfigError("latent diffusion encodes images: it needs dataset=fashion_mnist")


def num_classes(config) -> int:
    return data.num_classes(config) if config.conditional else 0


def make_model(config):
    if data_kind(config) == "image":
        return UNet(channels=config.base_channels, channel_mults=tuple(config.channel_mults),
                    num_res_blocks=config.num_res_blocks, attention=config.attention,
                    num_classes=num_classes(config), conv=config.conv)
    return MLPDenoiser(width=config.mlp_width, num_blocks=config.mlp_blocks,
                       num_classes=num_classes(config))


def make_schedule(config) -> schedules.Schedule:
    return schedules.make_schedule(config.schedule, config.num_timesteps, config.beta_start,
                                   config.beta_end)


def make_optimizer(config):
    lr = optax.linear_schedule(0.0, config.learning_rate, max(config.warmup_steps, 1))
    return optax.chain(optax.clip_by_global_norm(config.grad_clip), optax.adam(lr))


def data_shape(config) -> tuple:
    """Shape of one diffused example."""
    kind = data_kind(config)
    if kind == "latent":
        return (latent.latent_dim(config.latent_vae_workdir),)
    return (2,) if kind == "point" else IMAGE_SHAPE


def to_diffusion_space(config, state, batch, key):
    """A batch -> the vectors the model diffuses: [B, 28, 28, 1] in [-1, 1],
    VAE latents [B, D] (one posterior draw from `key`), or points [B, 2]."""
    kind = data_kind(config)
    if kind == "latent":
        return latent.encode_sample(config.latent_vae_workdir, state.extra["vae_params"],
                                    batch["image"], key)
    if kind == "point":
        return batch["point"]
    return losses.pixels_to_data(batch["image"])


def from_diffusion_space(config, state, x):
    """Generated vectors -> images [N, 28, 28, 1] in [0, 1] (or points [N, 2])."""
    kind = data_kind(config)
    if kind == "latent":
        return latent.decode_images(config.latent_vae_workdir, state.extra["vae_params"], x)
    return x if kind == "point" else losses.data_to_unit(x)


def init(config, key, sample_batch) -> TrainState:
    validate(config)
    batch_size = len(next(iter(sample_batch.values())))
    x = jnp.zeros((batch_size,) + data_shape(config), jnp.float32)
    labels = jnp.zeros((batch_size,), jnp.int32) if config.conditional else None
    params = make_model(config).init(key, x, jnp.zeros((batch_size,), jnp.int32), labels)
    extra = None
    if data_kind(config) == "latent":
        extra = {"vae_params": latent.load_vae(config.latent_vae_workdir).state.params}
    return TrainState.create(params, make_optimizer(config).init(params), ema_params=params,
                             extra=extra)


def training_labels(config, batch, key):
    """The labels the network sees in training: dropped to "none" (index K) with
    probability label_dropout; None for an unconditional model."""
    if not config.conditional:
        return None
    return losses.drop_labels(key, batch["label"].astype(jnp.int32), config.label_dropout,
                              num_classes(config))


def objective(config, params, state, batch, key):
    """(loss, per-example MSE) of one batch; `key` draws t, eps, label dropout, z."""
    k_t, k_eps, k_drop, k_z = jax.random.split(key, 4)
    x0 = to_diffusion_space(config, state, batch, k_z)
    t = jax.random.randint(k_t, (x0.shape[0],), 0, config.num_timesteps)
    eps = jax.random.normal(k_eps, x0.shape, x0.dtype)
    return losses.regression_loss(make_model(config).apply, params, make_schedule(config), x0,
                                  t, eps, training_labels(config, batch, k_drop),
                                  config.prediction)


def ema_update(config, ema_params, params, step):
    """EMA with decay min(ema_decay, (1 + step) / (10 + step)): early on the average
    follows the fast-moving weights instead of remembering the initialisation."""
    decay = jnp.minimum(config.ema_decay, (1.0 + step) / (10.0 + step))
    return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema_params, params)


def train_step(config, state, batch, key):
    (loss, _), grads = jax.value_and_grad(objective, argnums=1, has_aux=True)(
        config, state.params, state, batch, key)
    state = apply_gradients(state, grads, make_optimizer(config))
    state = state.replace(ema_params=ema_update(config, state.ema_params, state.params,
                                                state.step))
    return state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}


def eval_step(config, state, batch, key):
    loss, _ = objective(config, sampling_params(config, state), state, batch, key)
    return {"loss": loss}


# ------------------------------------------------------------------ sampling


def sampling_params(config, state):
    return state.ema_params if config.sample_with_ema else state.params


def sample_labels(config, num: int, cond=None):
    """Labels to sample: `cond` (an int or [num] ints), or 0..K-1 repeated."""
    if not config.conditional:
        return None
    if cond is None:
        return jnp.arange(num) % num_classes(config)
    return jnp.broadcast_to(jnp.asarray(cond, jnp.int32), (num,))


def make_predict_fn(config, params, labels):
    """(x_t, t) -> network output; with guidance w the conditional and the
    unconditional outputs of one doubled batch, mixed (1 + w) c - w u. Mixing
    the raw outputs equals mixing eps for every parameterization: the
    conversion to eps is affine in the output and the weights sum to 1."""
    apply = make_model(config).apply
    w = config.guidance
    if labels is None or w == 0:
        return lambda x, t: apply(params, x, t, labels)

    def guided(x, t):
        null = jnp.full_like(labels, num_classes(config))
        both = apply(params, jnp.concatenate([x, x]), jnp.concatenate([t, t]),
                     jnp.concatenate([labels, null]))
        cond_out, uncond_out = jnp.split(both, 2)
        return (1.0 + w) * cond_out - w * uncond_out

    return guided


def run_chain(config, state, key, num: int, cond=None, return_trajectory: bool = False):
    """The reverse chain in diffusion space: x_0 [num, ...] (or with the trajectory)."""
    k_noise, k_chain = jax.random.split(key)
    x_T = jax.random.normal(k_noise, (num,) + data_shape(config), jnp.float32)
    predict_fn = make_predict_fn(config, sampling_params(config, state),
                                 sample_labels(config, num, cond))
    timesteps = samplers.timestep_sequence(config.num_timesteps, config.sample_steps)
    return samplers.sample_chain(
        make_schedule(config), predict_fn, x_T, k_chain, timesteps, sampler=config.sampler,
        prediction=config.prediction, eta=config.eta,
        posterior_variance=config.posterior_variance,
        clip_x0=config.clip_x0 and data_kind(config) == "image",
        return_trajectory=return_trajectory)


def sample(config, state, key, num: int, cond=None):
    """[num, 28, 28, 1] in [0, 1] (points [num, 2] on toy data)."""
    return from_diffusion_space(config, state, run_chain(config, state, key, num, cond))


# ------------------------------------------------------------------ likelihood


def log_likelihood(config, state, batch, key):
    """Minus the variational bound: a lower bound on log p(x) of the 8-bit image,
    nats per example [B]. A conditional model is evaluated with the label
    "none", i.e. as the unconditional model it also is (so the number is log p(x),
    comparable with other families)."""
    if data_kind(config) != "image":
        raise ConfigError("the variational bound in bits/dim is defined for pixel-space "
                          "diffusion on images (a latent model's bound would be on latents)")
    params = sampling_params(config, state)
    labels = (jnp.full((batch["image"].shape[0],), num_classes(config), jnp.int32)
              if config.conditional else None)
    schedule = make_schedule(config)
    apply = make_model(config).apply

    def denoise_fn(x_t, t):
        ab = schedules.broadcast_to(schedules.alpha_bar_at(schedule, t), x_t)
        return schedules.to_x0_eps(config.prediction, apply(params, x_t, t, labels), x_t, ab)[0]

    return -losses.variational_bound(schedule, denoise_fn, batch["image"], key,
                                     config.vb_timesteps, config.posterior_variance)


def upgrade_config(flat: dict, version: int) -> dict:
    """Keys of configs saved by an older jaxgen (engine.config.complete)."""
    if version < 2:  # `channels` became a data key (image_folder's channel count)
        flat = rename_keys(flat, {'channels': 'base_channels'})
    return flat


def _register():
    from jaxgen.diffusion import evaluation
    register(Family(
        name="ddpm",
        description="denoising diffusion (eps/x0/v prediction; DDPM and DDIM samplers; "
                    "classifier-free guidance; latent diffusion on a trained VAE; "
                    "variational bound in bits/dim)",
        default_config=default_config, init=init, train_step=train_step, sample=sample,
        log_likelihood=log_likelihood, eval_step=eval_step,
        evaluations=evaluation.EVALUATIONS, pictures=evaluation.pictures,
        upgrade_config=upgrade_config))


_register()
