"""jaxgen.nn.distributions against independent references: closed forms against
Monte Carlo, SciPy and NumPy in float64, probabilities that must sum to 1,
finite differences, and the IWAE bound's inequalities."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxgen.nn import distributions as dist


# --------------------------------------------------------------------- Gaussians


def test_gaussian_kl_to_the_prior_matches_monte_carlo():
    """Closed-form KL(q || N(0, I)) against the average of log q(z) - log p(z), z ~ q."""
    mean = jnp.array([[0.5, -1.0, 2.0]])
    log_var = jnp.array([[-1.0, 0.3, 0.0]])
    closed = dist.gaussian_kl(mean, log_var)  # [1, 3]
    n = 400_000
    z = dist.reparameterize(jax.random.key(0), jnp.broadcast_to(mean, (n, 3)),
                            jnp.broadcast_to(log_var, (n, 3)))
    zn, m, lv = (np.asarray(a, np.float64) for a in (z, mean, log_var))
    log_q = stats.norm.logpdf(zn, m, np.exp(0.5 * lv))
    log_p = stats.norm.logpdf(zn)
    # Standard error of the MC mean is below 0.01 for these parameters.
    np.testing.assert_allclose(closed[0], (log_q - log_p).mean(0), atol=0.02)


def test_diag_gaussian_kl_between_two_gaussians_matches_monte_carlo():
    mean1, log_var1 = jnp.array([0.3, -0.5]), jnp.array([0.2, -0.7])
    mean2, log_var2 = jnp.array([-0.4, 0.1]), jnp.array([0.5, -0.2])
    closed = float(dist.diag_gaussian_kl(mean1, log_var1, mean2, log_var2))
    n = 400_000
    z = np.asarray(dist.reparameterize(jax.random.key(1), jnp.broadcast_to(mean1, (n, 2)),
                                       jnp.broadcast_to(log_var1, (n, 2))), np.float64)
    sd = lambda lv: np.exp(0.5 * np.asarray(lv, np.float64))  # noqa: E731
    log_ratio = (stats.norm.logpdf(z, mean1, sd(log_var1))
                 - stats.norm.logpdf(z, mean2, sd(log_var2))).sum(1)
    assert closed == pytest.approx(log_ratio.mean(), abs=0.02)


def test_gaussian_kl_is_zero_at_the_prior_and_positive_elsewhere():
    assert float(jnp.abs(dist.gaussian_kl(jnp.zeros(4), jnp.zeros(4))).max()) == 0.0
    assert float(dist.gaussian_kl(jnp.array(0.1), jnp.array(0.2))) > 0


def test_gaussian_log_probs_match_scipy():
    rng = np.random.default_rng(0)
    x, mean = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    log_var = rng.normal(size=(5, 3)) * 0.5
    expected = stats.norm.logpdf(x, mean, np.exp(0.5 * log_var))  # [5, 3]
    args = [jnp.asarray(a, jnp.float32) for a in (x, mean, log_var)]
    np.testing.assert_allclose(dist.gaussian_log_prob(*args), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dist.diag_gaussian_log_prob(*args), expected.sum(1), rtol=1e-5)
    np.testing.assert_allclose(dist.standard_normal_log_prob(args[0]),
                               stats.norm.logpdf(x).sum(1), rtol=1e-5)


def test_reparameterization_gradient_matches_finite_differences():
    """d/d(mean, log_var) of f(z) with fixed noise, against central differences."""
    key = jax.random.key(3)
    f = lambda z: jnp.sum(jnp.sin(z) * z ** 2)  # noqa: E731

    def objective(mean, log_var):
        return f(dist.reparameterize(key, mean, log_var))

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
    z = dist.reparameterize(jax.random.key(1), jnp.full((200_000,), 1.5),
                            jnp.full((200_000,), jnp.log(4.0)))
    assert abs(float(z.mean()) - 1.5) < 0.02
    assert abs(float(z.std()) - 2.0) < 0.02


# --------------------------------------------------------------------- pixels


@pytest.mark.parametrize("mean,log_scale", [(0.3, -3.0), (0.0, -6.0), (1.0, -1.0),
                                            (0.5, -5.0), (0.02, -4.0), (0.7, -7.0)])
def test_discretized_logistic_sums_to_one(mean, log_scale):
    values = jnp.arange(256, dtype=jnp.uint8)
    probs = jnp.exp(dist.discretized_logistic_log_prob(values, mean, log_scale))
    assert float(probs.min()) >= 0
    np.testing.assert_allclose(float(probs.sum()), 1.0, atol=1e-4)


def test_discretized_logistic_matches_cdf_differences():
    """Against the plain CDF difference, computed in float64 with SciPy."""
    mean, log_scale = 0.4, -2.5
    values = np.arange(256)
    cdf = lambda x: stats.logistic.cdf(x, mean, np.exp(log_scale))  # noqa: E731
    upper = np.where(values == 255, 1.0, cdf((values + 0.5) / 255))
    lower = np.where(values == 0, 0.0, cdf((values - 0.5) / 255))
    got = dist.discretized_logistic_log_prob(jnp.asarray(values, jnp.uint8), mean, log_scale)
    np.testing.assert_allclose(np.asarray(got), np.log(upper - lower), rtol=1e-4, atol=1e-4)


def test_discretized_logistic_mixture_sums_to_one_and_samples_its_probabilities():
    logits, means = jnp.array([0.5, -0.3, 1.0]), jnp.array([0.2, 0.5, 0.9])
    log_scales = jnp.array([-3.0, -2.0, -4.0])
    values = jnp.arange(256)
    log_probs = dist.discretized_logistic_mixture_log_prob(
        values, *(jnp.broadcast_to(a, (256, 3)) for a in (logits, means, log_scales)))
    probs = np.exp(np.asarray(log_probs, np.float64))
    assert probs.sum() == pytest.approx(1.0, abs=1e-4)
    n = 200_000
    draws = dist.sample_discretized_logistic_mixture(
        jax.random.key(0), *(jnp.broadcast_to(a, (n, 3)) for a in (logits, means, log_scales)))
    frequencies = np.bincount(np.asarray(draws), minlength=256) / n
    # Every bin within 5 binomial standard errors (plus a floor for near-empty bins).
    tolerance = 5 * np.sqrt(probs * (1 - probs) / n) + 1e-4
    assert np.all(np.abs(frequencies - probs) <= tolerance)


def test_bernoulli_log_prob_matches_numpy_cross_entropy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 28, 28, 1)).astype(np.float32)
    targets = rng.integers(0, 256, size=(2, 28, 28, 1)) / 255.0
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    expected = targets * np.log(p) + (1 - targets) * np.log(1 - p)
    got = dist.bernoulli_log_prob(jnp.asarray(logits), jnp.asarray(targets, jnp.float32))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)


def test_categorical_log_prob_matches_numpy():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 3, 7))
    values = rng.integers(0, 7, size=(4, 3))
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = np.take_along_axis(log_softmax, values[..., None], -1)[..., 0]
    got = dist.categorical_log_prob(jnp.asarray(logits, jnp.float32), jnp.asarray(values))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------- IWAE


def gaussian_model(x):
    """p(z) = N(0, 1), p(x | z) = N(x; z, 1): p(x) = N(x; 0, 2), posterior N(x/2, 1/2)."""
    def log_joint(z):  # [B, 1] -> [B]
        return unit_variance_log_density(x, z[:, 0]) + dist.standard_normal_log_prob(z)
    exact = -0.5 * (jnp.log(2 * jnp.pi * 2.0) + x ** 2 / 2.0)
    return log_joint, exact


def unit_variance_log_density(x, mean):
    """log N(x; mean, 1), written out (not the module under test)."""
    return -0.5 * (jnp.log(2 * jnp.pi) + (x - mean) ** 2)


def test_iwae_bound_is_exact_with_the_exact_posterior():
    """With q the exact posterior every importance weight equals p(x), for any K."""
    x = jnp.array([0.7, -1.2])
    log_joint, exact = gaussian_model(x)
    bound = dist.iwae_log_likelihood(log_joint, (x / 2)[:, None], jnp.full((2, 1), jnp.log(0.5)),
                                     jax.random.key(0), num_samples=5)
    np.testing.assert_allclose(bound, exact, rtol=1e-5, atol=1e-5)


def poor_proposal(num: int = 64):
    """The Gaussian model with q = the prior, a poor proposal: the bound is loose."""
    x = jnp.linspace(-2, 2, num)
    log_joint, exact = gaussian_model(x)
    return log_joint, exact, jnp.zeros((num, 1)), jnp.zeros((num, 1))


def test_iwae_with_one_sample_is_the_single_sample_elbo_estimate():
    """K = 1: log p(x, z) - log q(z | x) at the one draw z, from fold_in(key, 0)."""
    log_joint, _, mean, log_var = poor_proposal()
    key = jax.random.key(4)
    z = dist.reparameterize(jax.random.fold_in(key, 0), mean, log_var)
    elbo = log_joint(z) - dist.diag_gaussian_log_prob(z, mean, log_var)
    np.testing.assert_allclose(dist.iwae_log_likelihood(log_joint, mean, log_var, key, 1),
                               elbo, rtol=1e-6, atol=1e-6)


def test_iwae_is_at_least_the_mean_elbo_of_its_own_samples_and_at_most_log_px():
    """log mean_k w_k >= mean_k log w_k for every draw (Jensen), so IWAE_K is at least
    the average of the K single-sample ELBO estimates it is made of; on average it
    is tighter than the ELBO and stays below the exact log p(x)."""
    log_joint, exact, mean, log_var = poor_proposal()
    key, k = jax.random.key(0), 64
    iwae = dist.iwae_log_likelihood(log_joint, mean, log_var, key, k)
    single = []
    for i in range(k):  # sample i of the bound is drawn from fold_in(key, i)
        z = dist.reparameterize(jax.random.fold_in(key, i), mean, log_var)
        single.append(log_joint(z) - dist.diag_gaussian_log_prob(z, mean, log_var))
    mean_elbo = jnp.mean(jnp.stack(single), axis=0)  # [B]
    assert np.all(np.asarray(iwae) >= np.asarray(mean_elbo) - 1e-5)
    assert float(jnp.mean(iwae)) > float(jnp.mean(mean_elbo)) + 0.1  # strictly tighter here
    assert float(jnp.mean(iwae)) <= float(jnp.mean(exact)) + 0.05


@pytest.mark.parametrize("chunk_size", [4, 7, 50])
def test_chunked_iwae_equals_unchunked(chunk_size):
    """Sample k uses fold_in(key, k) whatever the chunk (7 does not divide 50)."""
    log_joint, _, mean, log_var = poor_proposal(16)
    key = jax.random.key(9)
    one_at_a_time = dist.iwae_log_likelihood(log_joint, mean, log_var, key, 50, chunk_size=1)
    chunked = dist.iwae_log_likelihood(log_joint, mean, log_var, key, 50, chunk_size=chunk_size)
    np.testing.assert_allclose(chunked, one_at_a_time, rtol=1e-6, atol=1e-5)
