"""The hierarchical VAE's mathematics against independent references:

- the relative posterior (mu_p + dmu, var_p * exp(dlogvar)) and its KL equal
  the absolute Gaussian and the textbook KL;
- the closed-form group KLs along the top-down path average to a Monte Carlo
  estimate of KL(q(z | x) || p(z)) made from numpy log-densities;
- the importance-weighted bound, on a linear-Gaussian two-group hierarchy
  whose marginal p(x) is a closed-form Gaussian: exact for the true posterior,
  below log p(x) and increasing with K (averaged over seeds) for a wrong one;
- a skipped update leaves params and optimizer state unchanged, and too many
  skips stop a run.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxgen.engine import config as config_lib
from jaxgen.engine.state import TrainState
from jaxgen.hvae import latents, losses, steps
from jaxgen.nn import distributions

from tiny_configs import tiny_overrides


@pytest.fixture(scope="module")
def tiny():
    config = config_lib.build_config("hvae", overrides=tiny_overrides("hvae"))
    pixels = np.random.RandomState(0).randint(0, 256, (2, 28, 28, 1)).astype(np.uint8)
    state = steps.init(config, jax.random.key(0), {"image": pixels})
    return config, state, pixels


def with_values(config, **values):
    return config_lib.apply_overrides(config, values, from_string=False)


def perturbed(params, key, scale=0.3):
    """Every parameter plus noise: the zero-initialised heads then give a prior that
    is not N(0, I) and a posterior that differs from it."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(tree, [p + scale * jax.random.normal(k, p.shape)
                                     for p, k in zip(leaves, keys)])


def test_relative_posterior_equals_absolute():
    rng = np.random.RandomState(1)
    mu_p, mu_q = rng.normal(size=50), rng.normal(size=50)
    logvar_p, logvar_q = rng.normal(size=50), rng.normal(size=50)
    mu, logvar = latents.relative_posterior(mu_p, logvar_p, mu_q - mu_p, logvar_q - logvar_p)
    np.testing.assert_allclose(mu, mu_q, rtol=1e-6)
    np.testing.assert_allclose(logvar, logvar_q, rtol=1e-6)
    # The textbook KL of two univariate Gaussians, from the standard deviations.
    s_p, s_q = np.exp(0.5 * logvar_p), np.exp(0.5 * logvar_q)
    expected = np.log(s_p / s_q) + (s_q ** 2 + (mu_q - mu_p) ** 2) / (2 * s_p ** 2) - 0.5
    kl = latents.relative_kl(jnp.asarray(mu_q - mu_p), jnp.asarray(logvar_q - logvar_p),
                             jnp.asarray(logvar_p))
    np.testing.assert_allclose(kl, expected, rtol=1e-4, atol=1e-6)


def test_soft_clamp_is_bounded_and_near_identity():
    x = jnp.array([-1e3, -3.0, -0.01, 0.0, 0.01, 3.0, 1e3])
    y = np.asarray(latents.soft_clamp(x, 5.0))
    assert np.all(np.abs(y) <= 5.0) and np.all(np.diff(y) > 0)
    np.testing.assert_allclose(y[2:5], x[2:5], atol=1e-6)


def test_group_kls_match_a_monte_carlo_estimate(tiny):
    config, state, pixels = tiny
    params = perturbed(state.params, jax.random.key(3))
    num_draws = 4000

    @jax.jit
    def draw(key):
        _, groups = losses.apply_inference(config, params, pixels, key)
        return groups, jnp.stack([latents.group_kl(g) for g in groups], 1)  # [B, G]

    groups, closed = jax.vmap(draw)(jax.random.split(jax.random.key(4), num_draws))
    closed = np.asarray(closed, np.float64)  # [N, B, G]
    # log q(z_g | .) - log p(z_g | .) at the drawn z, from scipy's normal densities.
    log_ratio = []
    for g in groups:
        z, mu_p, logvar_p = (np.asarray(g[k], np.float64) for k in ("z", "mu_p", "logvar_p"))
        mu_q, logvar_q = mu_p + np.asarray(g["dmu"]), logvar_p + np.asarray(g["dlogvar"])
        lq = stats.norm.logpdf(z, mu_q, np.exp(0.5 * logvar_q))
        lp = stats.norm.logpdf(z, mu_p, np.exp(0.5 * logvar_p))
        log_ratio.append((lq - lp).sum(axis=(2, 3, 4)))  # [N, B]
    log_ratio = np.stack(log_ratio, -1)  # [N, B, G]
    assert closed.mean() > 1.0  # the perturbed posterior is far from its prior
    difference = log_ratio - closed  # mean zero, group by group
    stderr = difference.std(0) / np.sqrt(num_draws)
    assert np.all(np.abs(difference.mean(0)) < 4 * stderr + 1e-3)


# ------------------------------------------------ a linear-Gaussian hierarchy
# z2 ~ N(0, 1), z1 | z2 ~ N(A z2, S1^2), x | z1 ~ N(B z1, SX^2); one dimension each.
A, S1, B, SX = 0.8, 0.6, 1.5, 0.4


def log_marginal(x):
    """log p(x) in closed form: x ~ N(0, B^2 (A^2 + S1^2) + SX^2)."""
    return stats.norm.logpdf(x, 0.0, np.sqrt(B ** 2 * (A ** 2 + S1 ** 2) + SX ** 2))


def true_posterior():
    """Coefficients of p(z2 | x) = N(c2 x, v2) and p(z1 | z2, x) = N(a1 z2 + b1 x, v1),
    by conditioning the joint Gaussian of (z2, z1, x) in numpy."""
    # (z2, z1, x) = M (e2, e1, ex) with independent standard normals.
    m = np.array([[1.0, 0.0, 0.0], [A, S1, 0.0], [B * A, B * S1, SX]])
    cov = m @ m.T

    def condition(target, given):
        k = cov[np.ix_(target, given)] @ np.linalg.inv(cov[np.ix_(given, given)])
        var = cov[np.ix_(target, target)] - k @ cov[np.ix_(given, target)]
        return k[0], var[0, 0]

    (c2,), v2 = condition([0], [2])
    (a1, b1), v1 = condition([1], [0, 2])
    return c2, v2, a1, b1, v1


def linear_gaussian_log_weight(x, q):
    """log p(x, z) - log q(z | x) with q's z1 relative to its prior (latents.py)."""
    c2, v2, a1, b1, v1 = q

    def fn(key):
        k2, k1 = jax.random.split(key)
        mu2, logvar2 = c2 * x, jnp.full_like(x, np.log(v2))
        z2 = mu2 + jnp.exp(0.5 * logvar2) * jax.random.normal(k2, x.shape)
        mu_p1, logvar_p1 = A * z2, jnp.full_like(x, np.log(S1 ** 2))
        mu_q1, logvar_q1 = latents.relative_posterior(
            mu_p1, logvar_p1, a1 * z2 + b1 * x - mu_p1, np.log(v1) - logvar_p1)
        z1 = mu_q1 + jnp.exp(0.5 * logvar_q1) * jax.random.normal(k1, x.shape)
        lp = (distributions.gaussian_log_prob(z2, 0.0, 0.0)
              + distributions.gaussian_log_prob(z1, mu_p1, logvar_p1)
              + distributions.gaussian_log_prob(x, B * z1, np.log(SX ** 2)))
        lq = (distributions.gaussian_log_prob(z2, mu2, logvar2)
              + distributions.gaussian_log_prob(z1, mu_q1, logvar_q1))
        return lp - lq

    return fn


X = np.array([-2.0, -0.5, 0.3, 1.7], np.float32)


def bound(q, k, seeds, chunk=1):
    """The bound at each of the seeds, in one jitted call. [len(seeds), len(X)]"""
    fn = lambda key: distributions.importance_weighted_bound(
        linear_gaussian_log_weight(jnp.asarray(X), q), key, k, chunk)
    keys = jax.vmap(jax.random.key)(jnp.asarray(seeds))
    return np.asarray(jax.jit(jax.vmap(fn))(keys))


def test_iwae_is_exact_for_the_true_posterior():
    for k in (1, 7):
        np.testing.assert_allclose(bound(true_posterior(), k, [0, 1])[1], log_marginal(X),
                                   atol=1e-4)


def test_iwae_increases_with_k_and_stays_below_log_marginal():
    c2, v2, a1, b1, v1 = true_posterior()
    wrong = (0.5 * c2, 2.5 * v2, a1 + 0.4, 0.3 * b1, 0.5 * v1)
    seeds = np.arange(200)
    means = {k: bound(wrong, k, seeds, chunk=min(k, 50)).mean(0) for k in (1, 10, 100)}
    exact = log_marginal(X)
    assert np.all(means[1] < means[10]) and np.all(means[10] < means[100])
    assert np.all(means[100] <= exact + 1e-3)
    assert np.all(exact - means[1] > 0.05)  # the wrong posterior really is wrong
    # The bound does not depend on how the K draws are chunked.
    np.testing.assert_allclose(bound(wrong, 100, [0], chunk=1), bound(wrong, 100, [0], chunk=30),
                               rtol=1e-5)


# ------------------------------------------------ skipping outlier updates


def test_a_skipped_update_leaves_the_state_unchanged(tiny):
    config, state, pixels = tiny
    batch = {"image": pixels}
    for threshold, should_skip in ((1e-9, True), (0.0, False)):
        step = jax.jit(functools.partial(
            steps.train_step, with_values(config, grad_skip_threshold=threshold)))
        new, metrics = step(state, batch, jax.random.key(5))
        assert float(metrics["skipped"]) == float(should_skip)
        assert int(new.extra["skipped"]) == int(should_skip)
        same = [np.array_equal(a, b) for a, b in
                zip(jax.tree.leaves((state.params, state.opt_state)),
                    jax.tree.leaves((new.params, new.opt_state)))]
        assert all(same) if should_skip else not all(same)


def test_too_many_skips_stop_the_run(tiny):
    config = with_values(tiny[0], max_skip_fraction=0.01)
    state = lambda skipped, step: TrainState(step=jnp.int32(step), params=None, opt_state=None,
                                             extra={"skipped": jnp.int32(skipped)})
    assert steps.check_skips(config, state(1, 50)) == {"skipped_updates": 1}
    assert steps.check_skips(config, state(10, 1000)) == {"skipped_updates": 10}
    with pytest.raises(steps.TooManySkippedUpdates, match="11 of 1000 updates"):
        steps.check_skips(config, state(11, 1000))


def test_kl_warmup_and_balancing_weights(tiny):
    config = with_values(tiny[0], kl_balance=False, kl_warmup_steps=10)
    kl = jnp.array([[4.0, 1.0], [2.0, 3.0]])  # [B, G]; tiny groups: 7x7 then 14x14 (2 ch)
    np.testing.assert_allclose(steps.kl_weights(config, 4, kl), [0.5, 0.5])
    config = with_values(config, kl_balance=True)
    w = np.asarray(steps.kl_weights(config, 4, kl))
    per_dim = np.array([3.01 / 98, 2.01 / 392])  # batch-mean KL + 0.01, per latent dimension
    np.testing.assert_allclose(w, 0.5 * per_dim / per_dim.mean(), rtol=1e-5)
    np.testing.assert_allclose(steps.kl_weights(config, 9, kl), [1.0, 1.0])  # warm: the ELBO
