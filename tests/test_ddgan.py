"""The denoising diffusion GAN's mathematics (jaxgen/diffusion/ddgan), against
NumPy closed forms. Exact resume and sampling determinism: tests/test_contract.py."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion import schedules
from jaxgen.diffusion.ddgan import losses, sampling
from jaxgen.diffusion.ddgan.family import default_config, validate
from jaxgen.errors import ConfigError

T = 4
SHAPE = (5, 3, 3, 1)


def vp_schedule(num_timesteps=T):
    return schedules.make_schedule("vp", num_timesteps, beta_min=0.1, beta_max=20.0)


def numpy_alpha_bar(num_timesteps, beta_min=0.1, beta_max=20.0, t_min=1e-3):
    """alpha_bar of the continuous VP SDE at the T levels, relative to s_0 (float64)."""
    s = t_min + (1 - t_min) * np.arange(num_timesteps + 1) / num_timesteps
    ab = np.exp(-beta_min * s - 0.5 * (beta_max - beta_min) * s ** 2)
    return ab[1:] / ab[0]


def numpy_posterior(betas, x0, x_t, t):
    """Mean and variance of q(x_{t-1} | x_t, x0) for one level t (Ho et al. eq. 7),
    from the betas alone."""
    betas = np.asarray(betas, np.float64)
    ab = np.cumprod(1 - betas)
    ab_t, ab_prev = ab[t], (ab[t - 1] if t > 0 else 1.0)
    mean = (np.sqrt(ab_prev) * betas[t] / (1 - ab_t)) * x0 \
        + (np.sqrt(1 - betas[t]) * (1 - ab_prev) / (1 - ab_t)) * x_t
    return mean, betas[t] * (1 - ab_prev) / (1 - ab_t)


def toy_generator(x_t, t, z):
    """An x0 predictor depending on all three inputs, cheap to run."""
    t = t.astype(jnp.float32)[:, None, None, None]
    return jnp.tanh(0.7 * x_t + 0.3 * jnp.mean(z, axis=-1)[:, None, None, None] - 0.1 * t)


def test_vp_schedule_is_the_discretised_sde():
    schedule = vp_schedule()
    np.testing.assert_allclose(np.asarray(schedule.alpha_bar), numpy_alpha_bar(T), rtol=1e-5)
    ab = np.asarray(schedule.alpha_bar, np.float64)
    # Four levels span all of the noise (s = 0.25 .. 1): the last is nearly N(0, I).
    assert 0.5 < ab[0] < 0.55 and ab[-1] < 1e-4
    assert np.all(np.diff(ab) < 0)


@pytest.mark.parametrize("t", [0, 1, 2, 3])
def test_posterior_draw_is_the_closed_form(t):
    schedule = vp_schedule()
    k0, k1, k2 = jax.random.split(jax.random.key(3), 3)
    x0 = jax.random.uniform(k0, SHAPE, minval=-1, maxval=1)
    x_t = jax.random.normal(k1, SHAPE)
    noise = jax.random.normal(k2, SHAPE)
    got = losses.posterior_draw(schedule, x0, x_t, jnp.full((SHAPE[0],), t), noise)
    mean, var = numpy_posterior(schedule.betas, np.asarray(x0, np.float64),
                                np.asarray(x_t, np.float64), t)
    np.testing.assert_allclose(np.asarray(got), mean + np.sqrt(var) * np.asarray(noise),
                               rtol=1e-4, atol=1e-5)
    if t == 0:  # the last step returns x0 itself
        np.testing.assert_array_equal(np.asarray(got), np.asarray(x0))


def test_sampling_chain_is_the_posterior_chain_of_the_generator():
    """T generator calls from N(0, I), each followed by the closed-form posterior
    step with the noise of step i from fold_in(k_chain, i), z of level t from
    fold_in(k_z, t)."""
    schedule = vp_schedule()
    key = jax.random.key(7)
    got = sampling.chain(schedule, toy_generator, key, SHAPE, latent_dim=6)
    k_noise, k_chain, k_z = jax.random.split(key, 3)
    x = jax.random.normal(k_noise, SHAPE)
    for i, t in enumerate(range(T - 1, -1, -1)):
        levels = jnp.full((SHAPE[0],), t)
        x0 = toy_generator(x, levels, jax.random.normal(jax.random.fold_in(k_z, t),
                                                        (SHAPE[0], 6)))
        mean, var = numpy_posterior(schedule.betas, np.asarray(x0, np.float64),
                                    np.asarray(x, np.float64), t)
        noise = np.asarray(jax.random.normal(jax.random.fold_in(k_chain, i), SHAPE))
        x = jnp.asarray(mean + (np.sqrt(var) * noise if t > 0 else 0.0), jnp.float32)
    np.testing.assert_allclose(np.asarray(got), np.asarray(x), rtol=1e-4, atol=1e-4)


def test_one_level_is_a_gan_on_x0():
    """T = 1: sampling returns the generator's x0 of pure noise, and D judges
    data x0 against G's x0 (both given the same noised x_0)."""
    schedule = vp_schedule(1)
    key = jax.random.key(11)
    got = sampling.chain(schedule, toy_generator, key, SHAPE, latent_dim=6)
    k_noise, _, k_z = jax.random.split(key, 3)
    expected = toy_generator(jax.random.normal(k_noise, SHAPE), jnp.zeros((SHAPE[0],), jnp.int32),
                             jax.random.normal(jax.random.fold_in(k_z, 0), (SHAPE[0], 6)))
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=0, atol=1e-6)

    x0 = jax.random.uniform(jax.random.key(1), SHAPE, minval=-1, maxval=1)
    noise = losses.draw_chain_noise(jax.random.key(2), x0, 1, 6)
    inputs = losses.chain_inputs(toy_generator, schedule, x0, noise)
    np.testing.assert_array_equal(np.asarray(inputs["t"]), 0)
    np.testing.assert_array_equal(np.asarray(inputs["real_prev"]), np.asarray(x0))
    np.testing.assert_array_equal(np.asarray(inputs["fake_prev"]), np.asarray(inputs["x0_fake"]))


def test_pairs_come_from_one_forward_chain():
    """For one x0 drawn many times at a level t: x_t has the marginal q(x_t | x0),
    x_{t-1} has q(x_{t-1} | x0), and their covariance is the chain's
    sqrt(1 - beta_t) (1 - alpha_bar_{t-1}), where an x_t drawn from x0 apart
    from x_{t-1} would give 0."""
    schedule = vp_schedule()
    betas = np.asarray(schedule.betas, np.float64)
    ab = np.cumprod(1 - betas)
    n, t = 40_000, 2
    x0 = jnp.full((n, 1), 0.6)
    noise = losses.draw_chain_noise(jax.random.key(5), x0, T, 2)
    levels = jnp.full((n,), t)
    x_prev, x_t = (np.asarray(a, np.float64)[:, 0] for a in
                   losses.real_pair(schedule, x0, levels, noise.eps_prev, noise.eps_step))
    tol = 4 / np.sqrt(n)
    assert abs(x_t.mean() - np.sqrt(ab[t]) * 0.6) < tol
    assert abs(x_t.var() - (1 - ab[t])) < 3 * tol
    assert abs(x_prev.mean() - np.sqrt(ab[t - 1]) * 0.6) < tol
    cov = np.mean((x_prev - x_prev.mean()) * (x_t - x_t.mean()))
    assert abs(cov - np.sqrt(1 - betas[t]) * (1 - ab[t - 1])) < 3 * tol
    assert cov > 5 * tol  # far from the 0 of two separate draws


def test_discriminator_sees_real_and_fake_pairs_with_one_x_t():
    """D's two calls: (x_{t-1}, x_t, t) and (x'_{t-1}, x_t, t) with the same x_t and
    t; x'_{t-1} is the posterior draw from that x_t and G's x0."""
    schedule = vp_schedule()
    x0 = jax.random.uniform(jax.random.key(1), SHAPE, minval=-1, maxval=1)
    noise = losses.draw_chain_noise(jax.random.key(4), x0, T, 6)
    inputs = losses.chain_inputs(toy_generator, schedule, x0, noise)
    calls = []

    def recording_d(x_prev, x_t, t):
        calls.append((x_prev, x_t, t))
        return jnp.sum(x_prev * x_t, axis=(1, 2, 3))

    losses.discriminator_objective(recording_d, inputs, r1_gamma=0.0)
    (real_prev, real_xt, real_t), (fake_prev, fake_xt, fake_t) = calls
    np.testing.assert_array_equal(np.asarray(real_prev), np.asarray(inputs["real_prev"]))
    np.testing.assert_array_equal(np.asarray(fake_prev), np.asarray(inputs["fake_prev"]))
    for x_t, t in ((real_xt, real_t), (fake_xt, fake_t)):
        np.testing.assert_array_equal(np.asarray(x_t), np.asarray(inputs["x_t"]))
        np.testing.assert_array_equal(np.asarray(t), np.asarray(noise.t))
    # x_t is one forward step from the real x_{t-1}, with the step's own noise.
    beta = np.asarray(schedules.step_beta(schedule, noise.t, noise.t - 1, x0))
    np.testing.assert_allclose(np.asarray(inputs["x_t"]),
                               np.sqrt(1 - beta) * np.asarray(real_prev)
                               + np.sqrt(beta) * np.asarray(noise.eps_step), rtol=1e-5, atol=1e-6)
    # The fake x_{t-1} is the closed-form posterior draw given G's x0 and that x_t.
    x0_fake = toy_generator(inputs["x_t"], noise.t, noise.z)
    for b in range(SHAPE[0]):
        t = int(noise.t[b])
        mean, var = numpy_posterior(schedule.betas, np.asarray(x0_fake[b], np.float64),
                                    np.asarray(inputs["x_t"][b], np.float64), t)
        np.testing.assert_allclose(np.asarray(fake_prev[b]),
                                   mean + np.sqrt(var) * np.asarray(noise.posterior[b]),
                                   rtol=1e-4, atol=1e-5)


def test_r1_of_a_linear_critic_is_its_squared_weight_norm():
    w = jax.random.normal(jax.random.key(0), SHAPE[1:])
    x = jax.random.normal(jax.random.key(1), SHAPE)
    critic = lambda x: jnp.sum(x * w, axis=(1, 2, 3))  # grad_x = w for every example
    np.testing.assert_allclose(float(losses.r1_penalty(critic, x)), float(jnp.sum(w ** 2)),
                               rtol=1e-5)
    # A quadratic critic sum(x^2 / 2): grad = x, so R1 = mean ||x||^2.
    quad = lambda x: 0.5 * jnp.sum(x ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(float(losses.r1_penalty(quad, x)),
                               float(jnp.mean(jnp.sum(x ** 2, axis=(1, 2, 3)))), rtol=1e-5)


@pytest.mark.parametrize("key, value", [("num_timesteps", 0), ("r1_gamma", -1.0),
                                        ("schedule", "cubic"), ("d_channels", ())])
def test_bad_config_is_a_config_error(key, value):
    config = default_config()
    config[key] = value
    with pytest.raises(ConfigError, match=key if key != "d_channels" else "d_channels"):
        validate(config)
