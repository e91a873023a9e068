"""init, train_step and eval_step of the `ddgan` family (pure; the engine jits them).

TrainState: params {"g", "d"}, opt_state {"g", "d"}, ema_params the
generator's moving average (sampled from when sample_with_ema). One train
step = one discriminator update, then one generator update, each on the
same real batch with its own levels, noises and latents (fold/split of the
step key: DESIGN.md, PRNG).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxgen import data
from jaxgen.diffusion import schedules
from jaxgen.diffusion.ddgan import losses
from jaxgen.diffusion.ddgan.models import Discriminator, Generator
from jaxgen.diffusion.losses import pixels_to_data
from jaxgen.engine import optim
from jaxgen.engine.state import TrainState
from jaxgen.nn import precision

NETWORKS = ("g", "d")


def make_generator(config) -> Generator:
    return Generator(channels=config.base_channels, channel_mults=tuple(config.channel_mults),
                     num_res_blocks=config.num_res_blocks, attention=config.attention,
                     mapping_layers=config.mapping_layers, conv=config.conv,
                     dtype=precision.layer_dtype(config))


def make_discriminator(config) -> Discriminator:
    return Discriminator(channels=tuple(config.d_channels), conv=config.d_conv,
                         dtype=precision.layer_dtype(config))


def make_schedule(config) -> schedules.Schedule:
    return schedules.make_schedule(config.schedule, config.num_timesteps, config.beta_start,
                                   config.beta_end, config.beta_min, config.beta_max)


def make_optimizers(config) -> dict:
    return {name: optim.make_optimizer(config.optim[name], total_steps=config.steps)
            for name in NETWORKS}


def generator_params(config, state):
    """The weights that sample: the EMA unless sample_with_ema=False."""
    return state.ema_params if config.sample_with_ema else state.params["g"]


def init(config, key, sample_batch) -> TrainState:
    k_g, k_d = jax.random.split(key)
    batch = len(next(iter(sample_batch.values())))
    x = jnp.zeros((batch,) + data.image_shape(config), jnp.float32)
    t = jnp.zeros((batch,), jnp.int32)
    z = jnp.zeros((batch, config.latent_dim), jnp.float32)
    params = {"g": make_generator(config).init(k_g, x, t, z),
              "d": make_discriminator(config).init(k_d, x, x, t)}
    optimizers = make_optimizers(config)
    opt_state = {name: optimizers[name].init(params[name]) for name in NETWORKS}
    return TrainState.create(params, opt_state, ema_params=jax.tree.map(jnp.copy, params["g"]))


def _fns(config, g_params, d_params):
    """(generate_fn(x_t, t, z), discriminate_fn(x_prev, x_t, t)) on given weights."""
    g, d = make_generator(config), make_discriminator(config)
    return (lambda x_t, t, z: g.apply(g_params, x_t, t, z),
            lambda x_prev, x_t, t: d.apply(d_params, x_prev, x_t, t))


def _noise(config, x0, key):
    return losses.draw_chain_noise(key, x0, config.num_timesteps, config.latent_dim)


def d_objective(config, d_params, g_params, x0, key):
    generate_fn, discriminate_fn = _fns(config, g_params, d_params)
    inputs = losses.chain_inputs(generate_fn, make_schedule(config), x0, _noise(config, x0, key))
    return losses.discriminator_objective(discriminate_fn, inputs, config.r1_gamma)


def g_objective(config, g_params, d_params, x0, key):
    generate_fn, discriminate_fn = _fns(config, g_params, d_params)
    inputs = losses.chain_inputs(generate_fn, make_schedule(config), x0, _noise(config, x0, key))
    return losses.generator_objective(discriminate_fn, inputs)


def _update(optimizer, params, opt_state, grads):
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def train_step(config, state, batch, key):
    """One D update, then one G update and the EMA. Metrics: d_loss, d_real,
    d_fake, r1 (if gamma > 0), g_loss."""
    k_d, k_g = jax.random.split(key)
    x0 = pixels_to_data(batch["image"])  # [B, H, W, C] in [-1, 1]
    optimizers = make_optimizers(config)
    d_grads, d_metrics = jax.grad(d_objective, argnums=1, has_aux=True)(
        config, state.params["d"], state.params["g"], x0, k_d)
    d_params, d_opt = _update(optimizers["d"], state.params["d"], state.opt_state["d"], d_grads)
    g_loss, g_grads = jax.value_and_grad(g_objective, argnums=1)(
        config, state.params["g"], d_params, x0, k_g)
    g_params, g_opt = _update(optimizers["g"], state.params["g"], state.opt_state["g"], g_grads)
    ema = optim.ema_update(state.ema_params, g_params, config.ema_decay, state.step,
                           warmup=config.ema_warmup)
    state = state.replace(params={"g": g_params, "d": d_params},
                          opt_state={"g": g_opt, "d": d_opt}, ema_params=ema)
    return state, {**d_metrics, "g_loss": g_loss}


def eval_step(config, state, batch, key):
    """D and G losses on a held-out batch (no R1): a D far better on test pairs
    than in training would be memorising."""
    x0 = pixels_to_data(batch["image"])
    generate_fn, discriminate_fn = _fns(config, state.params["g"], state.params["d"])
    inputs = losses.chain_inputs(generate_fn, make_schedule(config), x0, _noise(config, x0, key))
    _, metrics = losses.discriminator_objective(discriminate_fn, inputs, 0.0)
    return {**metrics, "g_loss": losses.generator_objective(discriminate_fn, inputs)}
