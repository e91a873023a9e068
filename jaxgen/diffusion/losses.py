"""Pure losses of diffusion models: the training MSE and the variational bound.

Training (Ho et al.'s "simple" loss, generalised): draw a level t uniformly
and noise eps, form x_t by the closed-form forward process and regress the
network output on the parameterization's target with a mean squared error
over all dimensions, averaged over the batch, with no per-level weight.
In terms of the eps error, the same network error costs
    eps:  ||eps - eps_hat||^2
    x0:   ||x0 - x0_hat||^2 = ||eps - eps_hat||^2 / SNR(t)
    v:    ||v - v_hat||^2   = ||eps - eps_hat||^2 (1 + 1 / SNR(t))
so x0 prediction weights the noisy levels down and v sits in between
(tests/test_diffusion_math.py checks these identities).

The variational bound (Sohl-Dickstein et al.; Ho et al. eq. 5), in nats per example:
    L = KL(q(x_{T-1} | x_0) || N(0, I))                          prior term
      + sum_{t >= 1} KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))  (levels 0-based)
      - log p(x_0 | x_{level 0})                                  discretized decoder
where p(x_{t-1} | x_t) = N(mu~(x_t, x0_hat), sigma_t^2) with the fixed
variance of the sampler, and the decoder is a Gaussian N(x0_hat, beta_0)
integrated over each pixel's bin of width 2/255 in [-1, 1] (Ho et al. 3.3), so
the bound is on the probability of the 8-bit image itself. Every term sums
over all H x W x C values of an image (bits/dim divides by H * W * C).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr

from jaxgen.diffusion import schedules
from jaxgen.nn.distributions import NUM_PIXEL_VALUES, gaussian_kl


def pixels_to_data(pixels):
    """uint8 [B, ...] -> float32 in [-1, 1] (the range the U-Net models)."""
    return pixels.astype(jnp.float32) * (2.0 / (NUM_PIXEL_VALUES - 1)) - 1.0


def data_to_unit(x):
    """[-1, 1] -> [0, 1], clipped (images for grids and metrics)."""
    return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)


def regression_loss(apply_fn, params, schedule, x0, t, eps, labels, prediction: str):
    """(mean squared error of the network output against its target, [B] per-example
    MSE). Every source of randomness (t, eps, the labels' dropout) is an argument."""
    x_t = schedules.q_sample(schedule, x0, t, eps)
    output = apply_fn(params, x_t, t, labels)
    ab = schedules.broadcast_to(schedules.alpha_bar_at(schedule, t), x0)
    err = (output - schedules.target(prediction, x0, eps, ab)) ** 2
    per_example = jnp.mean(err.reshape(err.shape[0], -1), axis=-1)  # [B]
    return jnp.mean(per_example), per_example


def drop_labels(key, labels, drop_prob: float, null_label: int):
    """Each label replaced by `null_label` with probability drop_prob (classifier-free
    guidance trains the unconditional model with the same network)."""
    drop = jax.random.bernoulli(key, drop_prob, labels.shape)
    return jnp.where(drop, null_label, labels)


# ------------------------------------------------------------------ the bound


def sum_per_example(x):
    return jnp.sum(x.reshape(x.shape[0], -1), axis=-1)


def discretized_gaussian_log_prob(pixels, mean, std):
    """log P(pixel) under N(mean, std^2) on [-1, 1] integrated over the pixel's bin
    [x - 1/255, x + 1/255] (end bins reach to -inf / +inf, so the 256 values'
    probabilities sum to 1). pixels uint8, mean and std broadcastable.

    (jaxgen.nn.distributions has the discretized logistic, not this Gaussian.)
    """
    x = pixels_to_data(pixels)
    half_bin = 1.0 / (NUM_PIXEL_VALUES - 1)
    upper = (x + half_bin - mean) / std
    lower = (x - half_bin - mean) / std
    log_cdf_upper = log_ndtr(upper)
    log_survival_lower = log_ndtr(-lower)
    # log(Phi(u) - Phi(l)) computed on the side of the smaller tail, where it is accurate.
    far_right = lower > 0
    interior = jnp.where(
        far_right,
        log_survival_lower + jnp.log1p(-jnp.exp(jnp.minimum(log_ndtr(-upper) - log_survival_lower,
                                                            -1e-12))),
        log_cdf_upper + jnp.log1p(-jnp.exp(jnp.minimum(log_ndtr(lower) - log_cdf_upper, -1e-12))))
    return jnp.where(pixels == 0, log_cdf_upper,
                     jnp.where(pixels == NUM_PIXEL_VALUES - 1, log_survival_lower, interior))


def prior_kl(schedule, x0):
    """KL(q(x_{T-1} | x_0) || N(0, I)) per example, closed form. [B]"""
    ab = schedule.alpha_bar[-1]
    return sum_per_example(gaussian_kl(jnp.sqrt(ab) * x0, jnp.log(1.0 - ab)))


def model_variance(schedule, t, posterior_variance: str, like):
    """The fixed variance sigma_t^2 of p(x_{t-1} | x_t) for levels t >= 1."""
    if posterior_variance == "beta":
        return schedules.step_beta(schedule, t, t - 1, like)
    return schedules.q_posterior(schedule, like, like, t, t - 1)[1]


def vb_term(schedule, denoise_fn, pixels, t, eps, posterior_variance: str):
    """The bound's term at levels t [B] (each row its own level) for images pixels,
    with x_t drawn from q(x_t | x_0) with the noise eps. Nats per example. [B]

    `denoise_fn(x_t, t) -> x0_hat` (unclipped: the bound is of the model itself).
    """
    x0 = pixels_to_data(pixels)
    x_t = schedules.q_sample(schedule, x0, t, eps)
    x0_hat = denoise_fn(x_t, t)
    is_decoder = schedules.broadcast_to(t == 0, x0)
    # Decoder term, level 0: -log of the binned N(x0_hat, beta_0).
    decoder_std = jnp.sqrt(schedule.betas[0])
    decoder_nll = -discretized_gaussian_log_prob(pixels, x0_hat, decoder_std)
    # KL term, levels >= 1 (t_prev clamped so level 0 gives finite, unused values).
    t_safe = jnp.maximum(t, 1)
    true_mean, true_var = schedules.q_posterior(schedule, x0, x_t, t_safe, t_safe - 1)
    model_mean, _ = schedules.q_posterior(schedule, x0_hat, x_t, t_safe, t_safe - 1)
    var = model_variance(schedule, t_safe, posterior_variance, x0)
    kl = gaussian_kl(true_mean, jnp.log(true_var), model_mean, jnp.log(var))
    return sum_per_example(jnp.where(is_decoder, decoder_nll, kl))


def strata(num_timesteps: int, num_levels: int) -> tuple[np.ndarray, np.ndarray]:
    """(first level, size) of the num_levels - 1 strata that cut levels 1..T-1
    into runs of (almost) equal size."""
    count = num_levels - 1
    if not 1 <= count <= num_timesteps - 1:
        raise ValueError(f"vb_timesteps must be in 2..{num_timesteps}, got {num_levels}")
    edges = np.round(np.linspace(1, num_timesteps, count + 1)).astype(np.int32)
    return edges[:-1], edges[1:] - edges[:-1]


def level_weights(num_timesteps: int, num_levels: int):
    """The weight of each evaluated level: 1 for the decoder, then each stratum's size. [K]"""
    return jnp.asarray(np.concatenate([[1.0], strata(num_timesteps, num_levels)[1]]),
                       jnp.float32)


def stratified_levels(key, num_timesteps: int, num_levels: int):
    """An unbiased estimate of sum_{t=0}^{T-1} f(t) from num_levels evaluations.

    Level 0 (the decoder) is always taken (weight 1); levels 1..T-1 are cut into
    num_levels - 1 strata of (almost) equal size and one level is drawn
    uniformly from each, weighted by its stratum's size. With
    num_levels = T every level is taken once: the exact sum.
    Returns (levels [K] int32, weights [K] float32).
    """
    starts, sizes = strata(num_timesteps, num_levels)
    offsets = jax.random.randint(key, (len(sizes),), 0, 2 ** 30) % jnp.asarray(sizes)
    levels = jnp.concatenate([jnp.zeros((1,), jnp.int32), jnp.asarray(starts) + offsets])
    return levels, level_weights(num_timesteps, num_levels)


# Every random draw of the bound belongs to one example: row j of a batch
# draws from fold_in(key, j), so an image's value depends on the key and its
# row, never on the batch size or the other rows (a padded test batch gives
# its real rows the values they would have alone). Each image also gets its
# own levels, so the per-image values are independent and their standard
# error is honest.
_LEVELS, _NOISE = 0, 1


def _row_key(key, row, purpose: int):
    return jax.random.fold_in(jax.random.fold_in(key, row), purpose)


def bound_levels(key, batch_size: int, num_timesteps: int, num_levels: int):
    """Each row's stratified levels, [K, B] int32 (weights: `level_weights`)."""
    def row_levels(row):
        return stratified_levels(_row_key(key, row, _LEVELS), num_timesteps, num_levels)[0]
    return jax.vmap(row_levels, out_axes=1)(jnp.arange(batch_size))


def bound_noise(key, index, like):
    """The noise eps of the bound's `index`-th level for each row, shaped like `like`."""
    def row_noise(row):
        k = jax.random.fold_in(_row_key(key, row, _NOISE), index)
        return jax.random.normal(k, like.shape[1:], jnp.float32)
    return jax.vmap(row_noise)(jnp.arange(like.shape[0]))


def variational_bound(schedule, denoise_fn, pixels, key, num_levels: int,
                      posterior_variance: str = "beta_tilde"):
    """Upper bound on -log p(x) in nats per example [B] (exact in the sum over
    levels when num_levels = T, else a stratified unbiased estimate of it).
    One network evaluation per level, run with `lax.map` so memory stays flat."""
    T = schedule.num_timesteps
    levels = bound_levels(key, pixels.shape[0], T, num_levels)  # [K, B]
    weights = level_weights(T, num_levels)                      # [K]

    def term(inputs):
        i, t, weight = inputs
        eps = bound_noise(key, i, pixels)
        return weight * vb_term(schedule, denoise_fn, pixels, t, eps, posterior_variance)

    terms = jax.lax.map(term, (jnp.arange(num_levels), levels, weights))  # [K, B]
    return prior_kl(schedule, pixels_to_data(pixels)) + jnp.sum(terms, axis=0)
