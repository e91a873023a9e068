"""Pix2Pix training: init, the train step (one D update, then one G update,
on the same paired batch), the eval step.

TrainState.params {"g", "d"}, opt_state {"g", "d"} from `optim.g` /
`optim.d`. Keys: the step key splits into G's dropout for the D update and
for the G update (dropout is pix2pix's only noise source). With gan_weight 0
(L1 only) D is neither used nor updated: G is a plain regression.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxgen import data
from jaxgen.engine import optim
from jaxgen.engine.state import TrainState
from jaxgen.translation import losses
from jaxgen.translation.models import make_discriminator, make_generator, to_signed

NETWORKS = ("g", "d")


def channels(config, side: str) -> int:
    return data.spec(config).fields[side].shape[-1]


def make_optimizers(config) -> dict:
    return {n: optim.make_optimizer(config.optim[n], total_steps=max(config.steps, 1))
            for n in NETWORKS}


def generate(config, g_params, x, key, dropout: bool):
    """G(x) [B, H, W, C_b] in [-1, 1]; `key` drives the dropout when it is on."""
    generator = make_generator(config, channels(config, "b"))
    if dropout and config.g_dropout_layers:
        return generator.apply(g_params, x, dropout=True, rngs={"dropout": key})
    return generator.apply(g_params, x, dropout=False)


def discriminate(config, d_params, x, y):
    """D's logits on (input, image) pairs (on the image alone if not d_conditional)."""
    pair = jnp.concatenate([x, y], axis=-1) if config.d_conditional else y
    return make_discriminator(config).apply(d_params, pair)


def init(config, key, sample_batch) -> TrainState:
    k_g, k_d = jax.random.split(key)
    x, y = to_signed(sample_batch["a"][:1]), to_signed(sample_batch["b"][:1])
    g_params = make_generator(config, channels(config, "b")).init(k_g, x)
    pair = jnp.concatenate([x, y], axis=-1) if config.d_conditional else y
    params = {"g": g_params, "d": make_discriminator(config).init(k_d, pair)}
    optimizers = make_optimizers(config)
    return TrainState.create(params, {n: optimizers[n].init(params[n]) for n in NETWORKS})


def d_objective(config, d_params, x, y, fake):
    real_logits = discriminate(config, d_params, x, y)
    fake_logits = discriminate(config, d_params, x, fake)
    loss = losses.pix2pix_discriminator_loss(config.loss, real_logits, fake_logits)
    return loss, {"d_loss": loss, "d_real": jnp.mean(real_logits),
                  "d_fake": jnp.mean(fake_logits)}


def g_objective(config, g_params, d_params, x, y, key):
    fake = generate(config, g_params, x, key, dropout=True)
    fake_logits = discriminate(config, d_params, x, fake) if config.gan_weight else None
    loss, parts = losses.pix2pix_generator_loss(config.loss, fake_logits, fake, y,
                                                config.gan_weight, config.l1_weight)
    return loss, {"g_loss": loss, **parts}


def update(optimizer, params, opt_state, grads):
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def train_step(config, state, batch, key):
    k_d, k_g = jax.random.split(key)
    x, y = to_signed(batch["a"]), to_signed(batch["b"])  # [B, H, W, C_a], [B, H, W, C_b]
    params, opt_state, metrics = dict(state.params), dict(state.opt_state), {}
    optimizers = make_optimizers(config)
    if config.gan_weight:
        fake = jax.lax.stop_gradient(generate(config, params["g"], x, k_d, dropout=True))
        grads, metrics = jax.grad(d_objective, argnums=1, has_aux=True)(
            config, params["d"], x, y, fake)
        params["d"], opt_state["d"] = update(optimizers["d"], params["d"], opt_state["d"], grads)
    grads, g_metrics = jax.grad(g_objective, argnums=1, has_aux=True)(
        config, params["g"], params["d"], x, y, k_g)
    params["g"], opt_state["g"] = update(optimizers["g"], params["g"], opt_state["g"], grads)
    return state.replace(params=params, opt_state=opt_state), {**metrics, **g_metrics}


def eval_step(config, state, batch, key):
    """L1 of G's outputs (with test-time dropout, as sampled) on a test batch, in [0, 1] units."""
    x, y = to_signed(batch["a"]), to_signed(batch["b"])
    fake = generate(config, state.params["g"], x, key, dropout=config.sample_dropout)
    return {"l1": losses.l1(fake, y) / 2.0}
