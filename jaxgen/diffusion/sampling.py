"""`sample` of the `ddpm` family: the reverse chain (samplers.py) with the run's
network, labels and guidance, mapped back from the diffusion space.

Classifier-free guidance with scale w mixes the conditional and the
unconditional outputs of one network: out = (1 + w) out(x, y) - w out(x, none).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.diffusion import parts, samplers
from jaxgen.nn.conditioning import class_labels


def sample_labels(config, num: int, cond=None):
    """[num] labels to sample (None, an int, [num] ints or a batch dict; None
    gives one class per grid row), or None for an unconditional model."""
    if not config.conditional:
        return None
    return class_labels(cond, num, parts.num_classes(config))


def guided(config) -> bool:
    return config.conditional and config.guidance > 0


def make_predict_fn(config, params, labels):
    """(x_t, t) -> network output; with guidance w the conditional and the
    unconditional outputs of one doubled batch, mixed (1 + w) c - w u. Mixing
    the raw outputs equals mixing eps for every parameterization: the
    conversion to eps is affine in the output and the weights sum to 1."""
    apply = parts.make_apply(config)
    w = config.guidance
    if labels is None or not guided(config):
        return lambda x, t: apply(params, x, t, labels)

    def predict(x, t):
        null = jnp.full_like(labels, parts.num_classes(config))
        both = apply(params, jnp.concatenate([x, x]), jnp.concatenate([t, t]),
                     jnp.concatenate([labels, null]))
        cond_out, uncond_out = jnp.split(both, 2)
        return (1.0 + w) * cond_out - w * uncond_out

    return predict


def run_chain(config, state, key, num: int, cond=None, return_trajectory: bool = False):
    """The reverse chain in diffusion space: x_0 [num, ...] (or with the trajectory)."""
    k_noise, k_chain = jax.random.split(key)
    x_T = jax.random.normal(k_noise, (num,) + parts.data_shape(config), jnp.float32)
    predict_fn = make_predict_fn(config, parts.model_params(config, state),
                                 sample_labels(config, num, cond))
    timesteps = samplers.timestep_sequence(config.num_timesteps, config.sample_steps)
    return samplers.sample_chain(
        parts.make_schedule(config), predict_fn, x_T, k_chain, timesteps,
        sampler=config.sampler, prediction=config.prediction, eta=config.eta,
        posterior_variance=config.posterior_variance,
        clip_x0=config.clip_x0 and parts.data_kind(config) == "image",
        return_trajectory=return_trajectory)


def sample(config, state, key, num: int, cond=None):
    """[num, H, W, C] in [0, 1] (points [num, 2] on the 2-D datasets)."""
    return parts.from_diffusion_space(config, state, run_chain(config, state, key, num, cond))


def network_evals(config) -> int:
    """Network evaluations per sampled example: one denoiser call per visited
    level; with guidance each call runs the network on a doubled batch (the
    conditional and the unconditional input), counted as 2 evaluations, since
    it is twice the work. A latent model adds its one VAE decoder call."""
    per_level = 2 if guided(config) else 1
    decode = 1 if parts.data_kind(config) == "latent" else 0
    return config.sample_steps * per_level + decode
