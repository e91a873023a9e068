"""Noise schedules, the closed-form forward process, and the three parameterizations.

Indexing: the T noise levels are numbered t = 0 .. T-1 (t = 0 is the paper's
t = 1, the least noisy level). `alpha_bar[t] = prod_{s <= t} (1 - beta_s)`
and the forward process jumps straight to any level:

    q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I).

"Level -1" stands for the clean data (alpha_bar = 1); samplers use it as the
last target of the reverse chain.

A network predicts one of (Salimans and Ho 2022 for v):
    eps  the noise:            x_t = sqrt(ab) x_0 + sqrt(1 - ab) eps
    x0   the clean data
    v    sqrt(ab) eps - sqrt(1 - ab) x_0
Given x_t and alpha_bar_t each determines the other two (`to_x0_eps`).
"""
from __future__ import annotations

import math

import flax.struct
import jax.numpy as jnp
import numpy as np

SCHEDULES = ("linear", "cosine", "vp")
PREDICTIONS = ("eps", "x0", "v")
MAX_BETA = 0.999  # the cosine schedule's beta_T would be 1 (alpha_bar_T = 0): clip it


class Schedule(flax.struct.PyTreeNode):
    """Per-level arrays, all [T] float32."""

    betas: jnp.ndarray
    alpha_bar: jnp.ndarray

    @property
    def num_timesteps(self) -> int:
        return self.betas.shape[0]


def linear_betas(num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02):
    """Ho et al. (2020): betas linear from beta_start to beta_end (given for T = 1000;
    scaled by 1000 / T so that other T keep the same alpha_bar curve)."""
    scale = 1000.0 / num_timesteps
    betas = np.linspace(scale * beta_start, scale * beta_end, num_timesteps, dtype=np.float64)
    return np.minimum(betas, MAX_BETA)


def cosine_betas(num_timesteps: int, offset: float = 0.008):
    """Nichol and Dhariwal (2021): alpha_bar(s) = cos^2((s + offset) / (1 + offset) * pi / 2)
    at s = (t + 1) / T, normalised by its value at s = 0; betas clipped at MAX_BETA."""
    s = np.arange(num_timesteps + 1, dtype=np.float64) / num_timesteps
    f = np.cos((s + offset) / (1 + offset) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return np.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], MAX_BETA)


def vp_betas(num_timesteps: int, beta_min: float = 0.1, beta_max: float = 20.0,
             t_min: float = 1e-3):
    """The continuous variance-preserving SDE (Song et al. 2021) discretised at
    T levels, as the denoising diffusion GAN does for T = 2..8 (Xiao et al. 2022):
    beta(s) = beta_min + s (beta_max - beta_min) on s in [0, 1] gives
    alpha_bar(s) = exp(-beta_min s - (beta_max - beta_min) s^2 / 2); the levels sit at
    s_i = t_min + (1 - t_min) i / T, i = 1..T, each beta from two neighbours, so
    alpha_bar_t = alpha_bar(s_{t+1}) / alpha_bar(s_0) (level -1, the data, at s_0)."""
    s = t_min + (1.0 - t_min) * np.arange(num_timesteps + 1, dtype=np.float64) / num_timesteps
    log_alpha_bar = -beta_min * s - 0.5 * (beta_max - beta_min) * s ** 2
    return np.minimum(1.0 - np.exp(log_alpha_bar[1:] - log_alpha_bar[:-1]), MAX_BETA)


def make_schedule(name: str, num_timesteps: int, beta_start: float = 1e-4,
                  beta_end: float = 0.02, beta_min: float = 0.1,
                  beta_max: float = 20.0) -> Schedule:
    """beta_start / beta_end: the linear schedule's; beta_min / beta_max: vp's."""
    if name == "linear":
        betas = linear_betas(num_timesteps, beta_start, beta_end)
    elif name == "cosine":
        betas = cosine_betas(num_timesteps)
    elif name == "vp":
        betas = vp_betas(num_timesteps, beta_min, beta_max)
    else:
        raise ValueError(f"unknown schedule {name!r}; choose from {SCHEDULES}")
    # The cumulative product in float64, then stored in float32.
    alpha_bar = np.cumprod(1.0 - betas)
    return Schedule(betas=jnp.asarray(betas, jnp.float32),
                    alpha_bar=jnp.asarray(alpha_bar, jnp.float32))


def alpha_bar_at(schedule: Schedule, t):
    """alpha_bar at integer levels t (any shape); level -1 (clean data) gives 1."""
    t = jnp.asarray(t)
    return jnp.where(t >= 0, schedule.alpha_bar[jnp.maximum(t, 0)], 1.0)


def broadcast_to(values, x):
    """[B] per-example values -> [B, 1, ..., 1] to multiply x [B, ...]."""
    return jnp.reshape(values, values.shape + (1,) * (x.ndim - values.ndim))


def q_sample(schedule: Schedule, x0, t, eps):
    """A draw of q(x_t | x_0) given the noise eps: x0, eps [B, ...], t [B] ints."""
    ab = broadcast_to(alpha_bar_at(schedule, t), x0)
    return jnp.sqrt(ab) * x0 + jnp.sqrt(1.0 - ab) * eps


def q_posterior(schedule: Schedule, x0, x_t, t, t_prev):
    """Mean and variance of q(x_{t_prev} | x_t, x_0) for levels t_prev < t.

    Between two levels of the chain (adjacent or not: samplers may skip) the
    forward step is x_t = sqrt(a) x_prev + sqrt(1 - a) noise with
    a = alpha_bar_t / alpha_bar_prev; the posterior is the usual Gaussian
    with beta = 1 - a. Returns (mean like x0, variance broadcastable to x0).
    """
    ab_t = broadcast_to(alpha_bar_at(schedule, t), x0)
    ab_prev = broadcast_to(alpha_bar_at(schedule, t_prev), x0)
    beta = 1.0 - ab_t / ab_prev
    mean = (jnp.sqrt(ab_prev) * beta / (1.0 - ab_t)) * x0 \
        + (jnp.sqrt(1.0 - beta) * (1.0 - ab_prev) / (1.0 - ab_t)) * x_t
    variance = beta * (1.0 - ab_prev) / (1.0 - ab_t)
    return mean, variance


def step_beta(schedule: Schedule, t, t_prev, x):
    """beta of the (possibly strided) step t_prev -> t, broadcast like x."""
    return 1.0 - broadcast_to(alpha_bar_at(schedule, t) / alpha_bar_at(schedule, t_prev), x)


# ------------------------------------------------------------- parameterizations


def target(prediction: str, x0, eps, alpha_bar):
    """What a network of the given parameterization should output. alpha_bar
    broadcastable to x0."""
    if prediction == "eps":
        return eps
    if prediction == "x0":
        return x0
    if prediction == "v":
        return jnp.sqrt(alpha_bar) * eps - jnp.sqrt(1.0 - alpha_bar) * x0
    raise ValueError(f"unknown prediction {prediction!r}; choose from {PREDICTIONS}")


def to_x0_eps(prediction: str, output, x_t, alpha_bar):
    """(x0, eps) implied by a network output and x_t at noise level alpha_bar.

    Solving x_t = sqrt(ab) x0 + sqrt(1 - ab) eps together with the output's
    definition; for v: x0 = sqrt(ab) x_t - sqrt(1 - ab) v and
    eps = sqrt(1 - ab) x_t + sqrt(ab) v (because ab + (1 - ab) = 1).
    """
    a, s = jnp.sqrt(alpha_bar), jnp.sqrt(1.0 - alpha_bar)
    if prediction == "eps":
        return (x_t - s * output) / a, output
    if prediction == "x0":
        return output, (x_t - a * output) / s
    if prediction == "v":
        return a * x_t - s * output, s * x_t + a * output
    raise ValueError(f"unknown prediction {prediction!r}; choose from {PREDICTIONS}")


def eps_from_x0(x0, x_t, alpha_bar):
    """The noise that takes x0 to x_t at level alpha_bar."""
    return (x_t - jnp.sqrt(alpha_bar) * x0) / jnp.sqrt(1.0 - alpha_bar)


def snr(alpha_bar):
    """Signal-to-noise ratio alpha_bar / (1 - alpha_bar)."""
    return alpha_bar / (1.0 - alpha_bar)
