"""init, train_step, eval_step and log_likelihood of autoencoders and VAEs.

State layout: params are the AutoEncoder's; an autoencoder's `extra` holds
{"latent_mean", "latent_var"} [D], an EMA of its training codes' statistics
(it has no prior, so it samples from a Gaussian fitted to them).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.engine.optim import ema_update, make_optimizer
from jaxgen.engine.state import TrainState, apply_gradients
from jaxgen.vae import losses, models


def optimizer(config):
    return make_optimizer(config.optim, total_steps=config.steps)


def init(config, key, sample_batch) -> TrainState:
    """A fresh state (the config is validated by the family's face, family.init)."""
    model = models.make_model(config)
    x = models.network_input(config, sample_batch["image"])
    params = model.init(key, x, models.class_onehot(config, sample_batch.get("label")))
    extra = None
    if not models.is_variational(config):
        extra = {"latent_mean": jnp.zeros(config.latent_dim),
                 "latent_var": jnp.ones(config.latent_dim)}
    return TrainState.create(params, optimizer(config).init(params), extra=extra)


def objective(config):
    return losses.vae_loss if models.is_variational(config) else losses.autoencoder_loss


def train_step(config, state, batch, key):
    (loss, aux), grads = jax.value_and_grad(objective(config), argnums=1, has_aux=True)(
        config, state.params, batch, key)
    state = apply_gradients(state, grads, optimizer(config))
    if not models.is_variational(config):
        state = state.replace(extra=update_latent_stats(config, state.extra, aux.pop("z")))
    return state, {"loss": loss, **aux}


def update_latent_stats(config, stats, z):
    """EMA of the training latents' mean and variance [D], from this batch's codes z [B, D]."""
    z = jax.lax.stop_gradient(z)
    batch_stats = {"latent_mean": jnp.mean(z, 0), "latent_var": jnp.var(z, 0)}
    return ema_update(stats, batch_stats, config.latent_stats_decay)


def eval_step(config, state, batch, key):
    loss, aux = objective(config)(config, state.params, batch, key)
    aux.pop("z", None)
    return {"loss": loss, **aux}


def log_likelihood(config, state, batch, key):
    """The IWAE lower bound on log p(x) (K = iwae_samples), nats per example. [B]"""
    return losses.iwae_log_likelihood(config, state.params, batch, key)
