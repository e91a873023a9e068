"""Reverse-process samplers, each one `lax.scan` over the chosen levels (one jit).

A sampler walks a strictly increasing sub-sequence of levels tau_1 < ... < tau_S
backwards, from pure noise at tau_S to the clean data (level -1). At each
step the network's output gives (x0_hat, eps_hat) (schedules.to_x0_eps), and

  ddpm  ancestral step: x_prev ~ N(mu~(x_t, x0_hat), sigma^2) with mu~ the mean
        of q(x_prev | x_t, x_0 = x0_hat) for the (strided) step tau -> tau_prev,
        and sigma^2 either that posterior's variance (`beta_tilde`, the
        "respaced" DDPM of Nichol and Dhariwal) or the step's beta (`beta`);
  ddim  x_prev = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - sigma^2) eps_hat + sigma z
        with sigma = eta sqrt((1 - ab_prev)/(1 - ab_t)) sqrt(1 - ab_t/ab_prev)
        (Song et al. 2021): eta = 0 is deterministic, eta = 1 is ddpm/beta_tilde.

The last step (to level -1) adds no noise. Step i draws its noise from
fold_in(key, i). `predict_fn(x_t, t) -> network output` hides the network,
the labels and the guidance.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.diffusion import schedules

SAMPLERS = ("ddpm", "ddim")
POSTERIOR_VARIANCES = ("beta_tilde", "beta")


def timestep_sequence(num_timesteps: int, num_steps: int) -> np.ndarray:
    """`num_steps` levels evenly spread over 0 .. T-1, strictly increasing, ending
    at T-1 (so sampling starts from the noisiest level). int32 [S]"""
    if not 1 <= num_steps <= num_timesteps:
        raise ValueError(f"sample_steps must be in 1..{num_timesteps}, got {num_steps}")
    if num_steps == 1:
        return np.array([num_timesteps - 1], np.int32)
    # Spacing >= 1 when S <= T, so rounding keeps the levels distinct.
    return np.round(np.linspace(0, num_timesteps - 1, num_steps)).astype(np.int32)


def step_pairs(timesteps) -> tuple[np.ndarray, np.ndarray]:
    """(t, t_prev) for each reverse step, noisiest first; the last t_prev is -1."""
    timesteps = np.asarray(timesteps, np.int32)
    prev = np.concatenate([[-1], timesteps[:-1]]).astype(np.int32)
    return timesteps[::-1].copy(), prev[::-1].copy()


def ddim_sigma(schedule, t, t_prev, eta: float, like):
    ab_t = schedules.broadcast_to(schedules.alpha_bar_at(schedule, t), like)
    ab_prev = schedules.broadcast_to(schedules.alpha_bar_at(schedule, t_prev), like)
    return eta * jnp.sqrt((1.0 - ab_prev) / (1.0 - ab_t) * (1.0 - ab_t / ab_prev))


def reverse_step(schedule, x_t, x0_hat, eps_hat, t, t_prev, noise, *, sampler: str,
                 eta: float = 0.0, posterior_variance: str = "beta_tilde"):
    """One step x_t -> x_{t_prev}, given the model's (x0_hat, eps_hat) and noise z.
    Returns (x_prev, mean, variance): the step's Gaussian and its draw."""
    if sampler == "ddpm":
        mean, variance = schedules.q_posterior(schedule, x0_hat, x_t, t, t_prev)
        if posterior_variance == "beta":
            variance = schedules.step_beta(schedule, t, t_prev, x_t)
        elif posterior_variance != "beta_tilde":
            raise ValueError(f"unknown posterior_variance {posterior_variance!r}; "
                             f"choose from {POSTERIOR_VARIANCES}")
    elif sampler == "ddim":
        ab_prev = schedules.broadcast_to(schedules.alpha_bar_at(schedule, t_prev), x_t)
        sigma = ddim_sigma(schedule, t, t_prev, eta, x_t)
        variance = sigma ** 2
        mean = jnp.sqrt(ab_prev) * x0_hat + jnp.sqrt(jnp.maximum(1.0 - ab_prev - variance, 0.0)) \
            * eps_hat
    else:
        raise ValueError(f"unknown sampler {sampler!r}; choose from {SAMPLERS}")
    is_last = schedules.broadcast_to(t_prev < 0, x_t)
    x_prev = jnp.where(is_last, mean, mean + jnp.sqrt(variance) * noise)
    return x_prev, mean, variance


def denoise(schedule, predict_fn, x_t, t, *, prediction: str, clip_x0: bool):
    """(x0_hat, eps_hat) at level t [B]; with clip_x0, x0_hat is clipped to the
    data range [-1, 1] and eps_hat recomputed from it (so both stay consistent)."""
    ab = schedules.broadcast_to(schedules.alpha_bar_at(schedule, t), x_t)
    x0_hat, eps_hat = schedules.to_x0_eps(prediction, predict_fn(x_t, t), x_t, ab)
    if clip_x0:
        x0_hat = jnp.clip(x0_hat, -1.0, 1.0)
        eps_hat = schedules.eps_from_x0(x0_hat, x_t, ab)
    return x0_hat, eps_hat


def sample_chain(schedule, predict_fn, x_T, key, timesteps, *, sampler: str,
                 prediction: str = "eps", eta: float = 0.0,
                 posterior_variance: str = "beta_tilde", clip_x0: bool = True,
                 return_trajectory: bool = False):
    """Run the reverse chain from x_T [B, ...] at level timesteps[-1] to data.

    Returns x_0, or with return_trajectory (x_0, states [S, B, ...] after each
    step, x0_hats [S, B, ...] predicted at each step).
    """
    ts, prevs = step_pairs(timesteps)
    batch = x_T.shape[0]

    def body(x, inputs):
        i, t, t_prev = inputs
        t_vec = jnp.full((batch,), t, jnp.int32)
        x0_hat, eps_hat = denoise(schedule, predict_fn, x, t_vec, prediction=prediction,
                                  clip_x0=clip_x0)
        noise = jax.random.normal(jax.random.fold_in(key, i), x.shape, x.dtype)
        x_prev, _, _ = reverse_step(schedule, x, x0_hat, eps_hat, t_vec,
                                    jnp.full((batch,), t_prev, jnp.int32), noise,
                                    sampler=sampler, eta=eta,
                                    posterior_variance=posterior_variance)
        return x_prev, ((x_prev, x0_hat) if return_trajectory else None)

    steps = (jnp.arange(len(ts)), jnp.asarray(ts), jnp.asarray(prevs))
    x0, trajectory = jax.lax.scan(body, x_T, steps)
    return (x0, *trajectory) if return_trajectory else x0
