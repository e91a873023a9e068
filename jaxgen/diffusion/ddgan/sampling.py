"""`sample` of the `ddgan` family: T generator calls, each followed by a draw
of the posterior q(x_{t-1} | x_t, x0') (the last returns x0').

The chain is the diffusion package's (samplers.sample_chain, one lax.scan)
with the generator as an x0-predicting network visiting every level. Keys:
k_noise draws x_{T-1} ~ N(0, I), k_chain the posterior noise of step i
(fold_in(k_chain, i), as in samplers.py), k_z the latents: those of level t
from fold_in(k_z, t).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen import data
from jaxgen.diffusion import samplers
from jaxgen.diffusion.ddgan import steps
from jaxgen.diffusion.losses import data_to_unit


def latents_at(k_z, t, num: int, latent_dim: int):
    """The latents z [num, Z] of level t (an int or a traced scalar)."""
    return jax.random.normal(jax.random.fold_in(k_z, t), (num, latent_dim), jnp.float32)


def chain(schedule, generate_fn, key, shape, latent_dim: int,
          return_trajectory: bool = False):
    """The reverse chain over every level of `schedule` for [num, ...] = shape:
    generate_fn(x_t, t, z) -> x0' [num, ...] in [-1, 1]. Returns x_0 (or with the
    states [T, num, ...] after each step and the x0' [T, num, ...] of each step)."""
    k_noise, k_chain, k_z = jax.random.split(key, 3)
    x_T = jax.random.normal(k_noise, shape, jnp.float32)

    def predict_fn(x_t, t):  # t [num], every entry the same level
        return generate_fn(x_t, t, latents_at(k_z, t[0], shape[0], latent_dim))

    timesteps = np.arange(schedule.num_timesteps, dtype=np.int32)  # every level
    return samplers.sample_chain(schedule, predict_fn, x_T, k_chain, timesteps,
                                 sampler="ddpm", prediction="x0",
                                 posterior_variance="beta_tilde", clip_x0=True,
                                 return_trajectory=return_trajectory)


def run_chain(config, state, key, num: int, return_trajectory: bool = False):
    """The run's chain: x_0 [num, H, W, C] in [-1, 1] (or with its trajectory)."""
    generator, g_params = steps.make_generator(config), steps.generator_params(config, state)
    return chain(steps.make_schedule(config),
                 lambda x_t, t, z: generator.apply(g_params, x_t, t, z), key,
                 (num,) + data.image_shape(config), config.latent_dim, return_trajectory)


def sample(config, state, key, num: int, cond=None):
    """[num, H, W, C] in [0, 1]; `cond` is ignored (an unconditional model)."""
    return data_to_unit(run_chain(config, state, key, num))


def network_evals(config) -> int:
    """One generator call per level; the discriminator is not used to sample."""
    return config.num_timesteps
