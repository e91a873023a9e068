"""init, train_step, eval_step, log_likelihood of the hierarchical VAE, and its
stability parts.

State: params of models.HVAE; `extra` = {"skipped": int32}, the number of
updates skipped so far.

    KL warm-up        kl_warmup_steps: the group KLs are weighted by
                      beta = min(1, (step + 1) / kl_warmup_steps) (0: no warm-up)
    KL balancing      kl_balance: while beta < 1, the weights are multiplied by
                      latents.balance_weights (NVAE); at beta = 1 the loss is the ELBO
    soft clamping     logvar_clamp: every log-variance (prior, posterior offset)
                      is c * tanh(raw / c) (models.py)
    clipping          optim.grad_clip_norm (engine.optim)
    skipping          grad_skip_threshold > 0: an update whose gradient norm
                      (before clipping) exceeds it, or is not finite, is not
                      applied: params and optimizer state stay as they were
                      (VDVAE). Every train row of metrics.jsonl carries the
                      count so far (`skipped_updates`, from the state), and a
                      run whose count passes max_skip_fraction of its steps
                      (of 100 steps, early on) stops with an error
                      (`check_skips`).
Spectral regularisation (NVAE) is not implemented.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxgen import data
from jaxgen.engine.optim import make_optimizer
from jaxgen.engine.state import TrainState, apply_gradients
from jaxgen.errors import JaxgenError
from jaxgen.hvae import latents, losses, models

MIN_STEPS_FOR_SKIP_RATE = 100  # before this many steps the allowance is that of 100


class TooManySkippedUpdates(JaxgenError):
    """More outlier updates were skipped than the config allows."""


def optimizer(config):
    return make_optimizer(config.optim, total_steps=config.steps)


def init(config, key, sample_batch) -> TrainState:
    model = models.make_model(config, data.image_shape(config))
    k_params, k_eps = jax.random.split(key)
    params = model.init(k_params, sample_batch["image"], k_eps)
    return TrainState.create(params, optimizer(config).init(params),
                             extra={"skipped": jnp.zeros((), jnp.int32)})


def kl_warmup_weight(config, step):
    """beta of the KL warm-up at train step `step` (0-based): linear to 1."""
    if config.kl_warmup_steps <= 0:
        return jnp.ones((), jnp.float32)
    return jnp.minimum(1.0, (step + 1.0) / config.kl_warmup_steps)


def kl_weights(config, step, kl_groups):
    """[G] weights of the group KLs: beta, times the balancing coefficients while
    beta < 1. kl_groups [B, G]: the batch's KLs (no gradient)."""
    beta = kl_warmup_weight(config, step)
    ones = jnp.ones(kl_groups.shape[1])
    if not config.kl_balance:
        return beta * ones
    balance = latents.balance_weights(kl_groups,
                                      models.group_dims(config, data.image_shape(config)))
    return beta * jnp.where(beta < 1.0, balance, ones)


def should_skip(config, grad_norm):
    """True when the update must not be applied: non-finite or an outlier norm."""
    bad = ~jnp.isfinite(grad_norm)
    if config.grad_skip_threshold > 0:
        bad = bad | (grad_norm > config.grad_skip_threshold)
    return bad


def keep_if(skip, old, new):
    """`old` where skip is True, else `new`, leaf by leaf (both pytrees alike)."""
    return jax.tree.map(lambda o, n: jnp.where(skip, o, n), old, new)


def loss_fn(config, params, batch, key, step):
    """The training loss; the balancing weights read this batch's own KLs."""
    loss, (metrics, weights) = losses.weighted_loss(
        config, params, batch, key, lambda kl_groups: kl_weights(config, step, kl_groups))
    metrics["kl_weight"] = jnp.mean(weights)
    return loss, metrics


def train_step(config, state, batch, key):
    (loss, metrics), grads = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)(
        config, state.params, batch, key, state.step)
    grad_norm = optax.tree.norm(grads)
    skip = should_skip(config, grad_norm)
    updated = apply_gradients(state, grads, optimizer(config))
    kept = keep_if(skip, (state.params, state.opt_state), (updated.params, updated.opt_state))
    state = state.replace(params=kept[0], opt_state=kept[1],
                          extra={"skipped": state.extra["skipped"] + skip.astype(jnp.int32)})
    return state, {"loss": loss, "grad_norm": grad_norm, "skipped": skip.astype(jnp.float32),
                   **metrics}


def check_skips(config, state) -> dict:
    """The engine's train-log hook: {"skipped_updates": count so far}; raises
    TooManySkippedUpdates when the count passes max_skip_fraction of the steps."""
    skipped, step = int(state.extra["skipped"]), int(state.step)
    allowed = config.max_skip_fraction * max(step, MIN_STEPS_FOR_SKIP_RATE)
    if skipped > allowed:
        raise TooManySkippedUpdates(
            f"hvae: {skipped} of {step} updates were skipped (gradient norm above "
            f"grad_skip_threshold={config.grad_skip_threshold} or not finite), more than "
            f"max_skip_fraction={config.max_skip_fraction}: training stopped, the last "
            "checkpoint is kept. Raise grad_skip_threshold or lower the learning rate")
    return {"skipped_updates": skipped}


def eval_step(config, state, batch, key):
    loss, (metrics, _) = losses.weighted_loss(config, state.params, batch, key)
    return {"loss": loss, **metrics}


def log_likelihood(config, state, batch, key):
    """The importance-weighted bound on log p(x) (K = iwae_samples), nats. [B]"""
    return losses.iwae_log_likelihood(config, state.params, batch, key)
