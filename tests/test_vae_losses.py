"""The VAE's mathematics against independent references."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.vae import losses

jax.config.update("jax_enable_x64", False)


def test_gaussian_kl_matches_monte_carlo():
    """Closed-form KL(q || N(0, I)) against the average of log q(z) - log p(z), z ~ q."""
    mean = jnp.array([[0.5, -1.0, 2.0]])
    log_var = jnp.array([[-1.0, 0.3, 0.0]])
    closed = losses.gaussian_kl_per_dim(mean, log_var)  # [1, 3]
    z = losses.reparameterize(jax.random.key(0), jnp.broadcast_to(mean, (400_000, 3)),
                              jnp.broadcast_to(log_var, (400_000, 3)))
    std = jnp.exp(0.5 * log_var)
    log_q = -0.5 * (jnp.log(2 * jnp.pi) + log_var + ((z - mean) / std) ** 2)
    log_p = -0.5 * (jnp.log(2 * jnp.pi) + z ** 2)
    monte_carlo = jnp.mean(log_q - log_p, axis=0)
    # Standard error of the MC mean is below 0.01 for these parameters.
    np.testing.assert_allclose(closed[0], monte_carlo, atol=0.02)


def test_gaussian_kl_zero_at_prior_and_positive_elsewhere():
    assert float(jnp.abs(losses.gaussian_kl_per_dim(jnp.zeros(4), jnp.zeros(4))).max()) == 0.0
    assert float(losses.gaussian_kl_per_dim(jnp.array(0.1), jnp.array(0.2))) > 0


def test_reparameterization_gradient_matches_finite_differences():
    """d/d(mean, log_var) of E[f(z)] with fixed noise, against central differences."""
    key = jax.random.key(3)
    f = lambda z: jnp.sum(jnp.sin(z) * z ** 2)  # noqa: E731

    def objective(mean, log_var):
        return f(losses.reparameterize(key, mean, log_var))

    mean = jnp.array([0.3, -0.7], jnp.float32)
    log_var = jnp.array([-0.5, 0.4], jnp.float32)
    grad_mean, grad_log_var = jax.grad(objective, argnums=(0, 1))(mean, log_var)
    h = 1e-3
    for i in range(2):
        e = jnp.zeros(2).at[i].set(h)
        fd_mean = (objective(mean + e, log_var) - objective(mean - e, log_var)) / (2 * h)
        fd_log_var = (objective(mean, log_var + e) - objective(mean, log_var - e)) / (2 * h)
        np.testing.assert_allclose(grad_mean[i], fd_mean, rtol=2e-2, atol=1e-3)
        np.testing.assert_allclose(grad_log_var[i], fd_log_var, rtol=2e-2, atol=1e-3)


def test_reparameterize_has_the_right_moments():
    z = losses.reparameterize(jax.random.key(1), jnp.full((200_000,), 1.5),
                              jnp.full((200_000,), jnp.log(4.0)))
    assert abs(float(z.mean()) - 1.5) < 0.02
    assert abs(float(z.std()) - 2.0) < 0.02


@pytest.mark.parametrize("mean,log_scale", [(0.3, -3.0), (0.0, -6.0), (1.0, -1.0),
                                            (0.5, -5.0), (0.02, -4.0)])
def test_discretized_logistic_sums_to_one(mean, log_scale):
    values = jnp.arange(256, dtype=jnp.uint8)
    probs = jnp.exp(losses.discretized_logistic_log_prob(values, mean, log_scale))
    assert float(probs.min()) >= 0
    np.testing.assert_allclose(float(probs.sum()), 1.0, atol=1e-4)


def test_discretized_logistic_matches_cdf_differences():
    """Against the plain CDF difference, computed in float64 with NumPy."""
    mean, log_scale = 0.4, -2.5
    values = np.arange(256)
    s = np.exp(log_scale)
    cdf = lambda x: 1 / (1 + np.exp(-(x - mean) / s))  # noqa: E731
    upper = np.where(values == 255, 1.0, cdf((values + 0.5) / 255))
    lower = np.where(values == 0, 0.0, cdf((values - 0.5) / 255))
    expected = np.log(upper - lower)
    got = losses.discretized_logistic_log_prob(jnp.asarray(values, jnp.uint8), mean, log_scale)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-4)


def test_bernoulli_nll_matches_numpy_cross_entropy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 28, 28, 1)).astype(np.float32)
    pixels = rng.integers(0, 256, size=(2, 28, 28, 1)).astype(np.uint8)
    t = pixels / 255.0
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    expected = -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(np.asarray(losses.bernoulli_nll(logits, pixels)), expected,
                               rtol=1e-5)


def test_iwae_bound_is_exact_for_a_gaussian_model():
    """For p(z) = N(0, 1), p(x|z) = N(x; z, 1) and the exact posterior as q, every
    importance weight equals p(x), so the bound is log N(x; 0, 2) for any K."""
    x = jnp.array([0.7, -1.2])
    post_mean, post_log_var = x / 2, jnp.full(2, jnp.log(0.5))

    def log_joint(z):  # [B, 1] per example
        return (-0.5 * (jnp.log(2 * jnp.pi) + (x - z[:, 0]) ** 2)
                + losses.standard_normal_log_prob(z))

    bound = losses.iwae_log_likelihood(log_joint, post_mean[:, None], post_log_var[:, None],
                                       jax.random.key(0), num_samples=5)
    exact = -0.5 * (jnp.log(2 * jnp.pi * 2.0) + x ** 2 / 2.0)
    np.testing.assert_allclose(bound, exact, rtol=1e-5, atol=1e-5)


def test_iwae_bound_tightens_with_more_samples():
    """With a poor proposal the K=64 bound sits above the K=1 bound (the ELBO) on average."""
    x = jnp.linspace(-2, 2, 64)

    def log_joint(z):
        return (-0.5 * (jnp.log(2 * jnp.pi) + (x - z[:, 0]) ** 2)
                + losses.standard_normal_log_prob(z))

    mean, log_var = jnp.zeros((64, 1)), jnp.zeros((64, 1))  # q = prior: a poor proposal
    k1 = losses.iwae_log_likelihood(log_joint, mean, log_var, jax.random.key(0), 1)
    k64 = losses.iwae_log_likelihood(log_joint, mean, log_var, jax.random.key(0), 64)
    exact = -0.5 * (jnp.log(2 * jnp.pi * 2.0) + x ** 2 / 2.0)
    assert float(jnp.mean(k64)) > float(jnp.mean(k1))
    assert float(jnp.mean(k64)) <= float(jnp.mean(exact)) + 0.05
