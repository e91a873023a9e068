"""init, train_step, eval_step and log_likelihood of the `ddpm` family (pure;
the engine jits them). Validation happens in family.py, before `init`."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxgen.diffusion import latent, losses, parts, schedules
from jaxgen.engine import optim
from jaxgen.engine.state import TrainState, apply_gradients
from jaxgen.errors import ConfigError


def make_optimizer(config) -> optax.GradientTransformation:
    return optim.make_optimizer(config.optim, total_steps=config.steps)


def init(config, key, sample_batch) -> TrainState:
    batch_size = len(next(iter(sample_batch.values())))
    x = jnp.zeros((batch_size,) + parts.data_shape(config), jnp.float32)
    t = jnp.zeros((batch_size,), jnp.int32)
    labels = jnp.zeros((batch_size,), jnp.int32) if config.conditional else None
    params = parts.make_model(config).init(key, x, t, labels)
    extra = None
    if parts.data_kind(config) == "latent":
        extra = {"vae_params": latent.vae_params(config.latent_vae_workdir)}
    return TrainState.create(params, make_optimizer(config).init(params), ema_params=params,
                             extra=extra)


def training_labels(config, batch, key):
    """The labels the network sees in training: dropped to "none" (index K) with
    probability label_dropout; None for an unconditional model."""
    if not config.conditional:
        return None
    return losses.drop_labels(key, batch["label"].astype(jnp.int32), config.label_dropout,
                              parts.num_classes(config))


def objective(config, params, state, batch, key):
    """(loss, per-example MSE) of one batch; `key` draws t, eps, label dropout, z."""
    k_t, k_eps, k_drop, k_z = jax.random.split(key, 4)
    x0 = parts.to_diffusion_space(config, state, batch, k_z)
    t = jax.random.randint(k_t, (x0.shape[0],), 0, config.num_timesteps)
    eps = jax.random.normal(k_eps, x0.shape, x0.dtype)
    return losses.regression_loss(parts.make_apply(config), params,
                                  parts.make_schedule(config), x0, t, eps,
                                  training_labels(config, batch, k_drop), config.prediction)


def train_step(config, state, batch, key):
    (loss, _), grads = jax.value_and_grad(objective, argnums=1, has_aux=True)(
        config, state.params, state, batch, key)
    state = apply_gradients(state, grads, make_optimizer(config))
    # The weights' EMA, with ema_warmup decay min(ema_decay, (1 + t) / (10 + t)) at
    # step t: early on the average follows the fast-moving weights instead of
    # remembering the initialisation.
    ema = optim.ema_update(state.ema_params, state.params, config.ema_decay, state.step,
                           warmup=config.ema_warmup)
    return state.replace(ema_params=ema), {"loss": loss, "grad_norm": optax.tree.norm(grads)}


def eval_step(config, state, batch, key):
    loss, _ = objective(config, parts.model_params(config, state), state, batch, key)
    return {"loss": loss}


# ------------------------------------------------------------------ likelihood


def likelihood_kind(config):
    """'bound' in pixel space; None for points and VAE latents (a bound there
    would be on the latents or points, not on the 8-bit images)."""
    return "bound" if parts.data_kind(config) == "image" else None


def log_likelihood(config, state, batch, key):
    """Minus the variational bound: a lower bound on log p(x) of the 8-bit image,
    nats per example over all its H x W x C values [B]; each image's value
    depends on `key` and its row only (losses.variational_bound). A
    conditional model is evaluated with the label "none", i.e. as the
    unconditional model it also is (so the number is log p(x), comparable
    with other families)."""
    if likelihood_kind(config) is None:
        raise ConfigError("the variational bound in bits/dim is defined for pixel-space "
                          "diffusion on images (a latent model's bound would be on latents)")
    params = parts.model_params(config, state)
    labels = parts.null_labels(config, batch["image"].shape[0])
    schedule = parts.make_schedule(config)
    apply = parts.make_apply(config)

    def denoise_fn(x_t, t):
        ab = schedules.broadcast_to(schedules.alpha_bar_at(schedule, t), x_t)
        return schedules.to_x0_eps(config.prediction, apply(params, x_t, t, labels), x_t, ab)[0]

    return -losses.variational_bound(schedule, denoise_fn, batch["image"], key,
                                     config.vb_timesteps, config.posterior_variance)
