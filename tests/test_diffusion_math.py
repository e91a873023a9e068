"""Diffusion mathematics against closed forms, brute force and Monte Carlo."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxgen.diffusion import losses, samplers, schedules


@pytest.fixture(scope="module", params=["linear", "cosine"])
def schedule(request):
    return schedules.make_schedule(request.param, 1000)


def test_alpha_bar_is_decreasing_and_reaches_near_zero(schedule):
    ab = np.asarray(schedule.alpha_bar, np.float64)
    assert np.all(np.diff(ab) < 0)
    assert 0.99 < ab[0] < 1.0
    assert ab[-1] < 1e-4
    # alpha_bar is the running product of 1 - beta (brute force in float64).
    np.testing.assert_allclose(ab, np.cumprod(1 - np.asarray(schedule.betas, np.float64)),
                               rtol=1e-4)  # betas are stored in float32


def test_linear_schedule_is_ho_et_al():
    s = schedules.make_schedule("linear", 1000)
    np.testing.assert_allclose(np.asarray(s.betas)[[0, -1]], [1e-4, 0.02], rtol=1e-6)


def test_forward_process_statistics_match_the_closed_form(schedule):
    """Sampled q(x_t | x_0): mean sqrt(ab) x0 and variance 1 - ab, per level."""
    n = 20000
    x0 = jnp.array([0.7, -0.3])
    for t in (0, 300, 999):
        eps = jax.random.normal(jax.random.key(t), (n, 2))
        xt = schedules.q_sample(schedule, jnp.broadcast_to(x0, (n, 2)), jnp.full((n,), t), eps)
        ab = float(schedule.alpha_bar[t])
        se = np.sqrt((1 - ab) / n)
        np.testing.assert_allclose(np.mean(xt, 0), np.sqrt(ab) * x0, atol=5 * se + 1e-7)
        np.testing.assert_allclose(np.var(xt, 0), 1 - ab, rtol=0.05, atol=1e-6)


def test_strided_posterior_matches_bayes_rule_by_brute_force():
    """q(x_prev | x_t, x_0) for a skip of several levels, against the Gaussian
    product p(x_t | x_prev) q(x_prev | x_0) computed on a grid."""
    s = schedules.make_schedule("linear", 100)
    t, t_prev, x0, xt = 40, 25, 0.5, 0.1
    ab_t, ab_p = float(s.alpha_bar[t]), float(s.alpha_bar[t_prev])
    grid = np.linspace(-4, 4, 200001)
    log_w = (stats.norm.logpdf(xt, np.sqrt(ab_t / ab_p) * grid, np.sqrt(1 - ab_t / ab_p))
             + stats.norm.logpdf(grid, np.sqrt(ab_p) * x0, np.sqrt(1 - ab_p)))
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    mean = np.sum(w * grid)
    var = np.sum(w * (grid - mean) ** 2)
    got_mean, got_var = schedules.q_posterior(s, jnp.array([x0]), jnp.array([xt]),
                                              jnp.array([t]), jnp.array([t_prev]))
    np.testing.assert_allclose(float(got_mean[0]), mean, atol=1e-5)
    np.testing.assert_allclose(float(jnp.ravel(got_var)[0]), var, rtol=1e-4)


@pytest.mark.parametrize("prediction", schedules.PREDICTIONS)
def test_parameterizations_convert_into_each_other_exactly(prediction):
    k0, k1 = jax.random.split(jax.random.key(0))
    x0 = jax.random.normal(k0, (16, 3))
    eps = jax.random.normal(k1, (16, 3))
    ab = jnp.linspace(0.01, 0.99, 16)[:, None]
    xt = jnp.sqrt(ab) * x0 + jnp.sqrt(1 - ab) * eps
    output = schedules.target(prediction, x0, eps, ab)
    got_x0, got_eps = schedules.to_x0_eps(prediction, output, xt, ab)
    chex.assert_trees_all_close((got_x0, got_eps), (x0, eps), atol=2e-5)
    # v's definition, independently: v = sqrt(ab) eps - sqrt(1 - ab) x0.
    v = schedules.target("v", x0, eps, ab)
    np.testing.assert_allclose(v, np.sqrt(ab) * eps - np.sqrt(1 - ab) * x0, atol=1e-6)


def test_loss_weightings_relative_to_eps_are_as_documented():
    """The same denoising error costs err_eps / SNR in x0 and err_eps (1 + 1/SNR) in v."""
    keys = jax.random.split(jax.random.key(1), 3)
    x0, eps, eps_hat = (jax.random.normal(k, (8, 5)) for k in keys)
    ab = jnp.linspace(0.05, 0.95, 8)[:, None]
    xt = jnp.sqrt(ab) * x0 + jnp.sqrt(1 - ab) * eps
    x0_hat = schedules.to_x0_eps("eps", eps_hat, xt, ab)[0]
    err = {p: jnp.sum((schedules.target(p, x0_hat, eps_hat, ab)
                       - schedules.target(p, x0, eps, ab)) ** 2, -1) for p in schedules.PREDICTIONS}
    snr = schedules.snr(ab[:, 0])
    np.testing.assert_allclose(err["x0"], err["eps"] / snr, rtol=1e-4)
    np.testing.assert_allclose(err["v"], err["eps"] * (1 + 1 / snr), rtol=1e-4)


def test_ddim_with_eta_one_on_all_levels_is_the_ddpm_posterior():
    s = schedules.make_schedule("cosine", 200)
    keys = jax.random.split(jax.random.key(2), 2)
    x0_hat = jnp.clip(jax.random.normal(keys[0], (6, 4)), -1, 1)
    xt = jax.random.normal(keys[1], (6, 4))
    t = jnp.array([1, 5, 50, 120, 199, 7])
    t_prev = t - 1
    ab = schedules.broadcast_to(schedules.alpha_bar_at(s, t), xt)
    eps_hat = schedules.eps_from_x0(x0_hat, xt, ab)
    noise = jnp.zeros_like(xt)
    _, m_ddpm, v_ddpm = samplers.reverse_step(s, xt, x0_hat, eps_hat, t, t_prev, noise,
                                              sampler="ddpm")
    _, m_ddim, v_ddim = samplers.reverse_step(s, xt, x0_hat, eps_hat, t, t_prev, noise,
                                              sampler="ddim", eta=1.0)
    # float32: at t = 1 both forms divide by a small 1 - alpha_bar.
    np.testing.assert_allclose(m_ddim, m_ddpm, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(np.broadcast_to(v_ddim, xt.shape), np.broadcast_to(v_ddpm, xt.shape),
                               rtol=1e-4, atol=1e-9)


def test_ddim_with_eta_zero_is_deterministic_given_the_starting_noise():
    """The chain's key only feeds the per-step noise, which eta = 0 multiplies by 0."""
    s = schedules.make_schedule("linear", 50)
    predict = lambda xt, t: 0.3 * xt + 0.01 * t[:, None]  # noqa: E731  any network
    x_T = jax.random.normal(jax.random.key(0), (3, 4))
    chain = lambda key, eta: samplers.sample_chain(  # noqa: E731
        s, predict, x_T, key, samplers.timestep_sequence(50, 10), sampler="ddim", eta=eta)
    np.testing.assert_array_equal(chain(jax.random.key(1), 0.0), chain(jax.random.key(2), 0.0))
    assert not np.allclose(chain(jax.random.key(1), 0.5), chain(jax.random.key(2), 0.5))


def test_ddim_eta_zero_is_deterministic_and_ddpm_beta_variance_is_the_step_beta():
    s = schedules.make_schedule("linear", 100)
    x = jnp.ones((2, 3))
    t, tp = jnp.array([10, 60]), jnp.array([5, 59])
    _, _, var0 = samplers.reverse_step(s, x, x, x, t, tp, x, sampler="ddim", eta=0.0)
    np.testing.assert_array_equal(np.asarray(var0), 0.0)
    _, _, var_beta = samplers.reverse_step(s, x, x, x, t, tp, x, sampler="ddpm",
                                           posterior_variance="beta")
    expected = 1 - np.asarray(s.alpha_bar)[[10, 60]] / np.asarray(s.alpha_bar)[[5, 59]]
    np.testing.assert_allclose(np.ravel(var_beta), expected, rtol=1e-5)


@pytest.mark.parametrize("sampler,eta,steps,prediction", [
    ("ddim", 0.0, 10, "eps"), ("ddim", 0.0, 10, "x0"), ("ddim", 0.0, 10, "v"),
    ("ddim", 0.5, 25, "v"), ("ddpm", 0.0, 100, "eps"), ("ddpm", 0.0, 7, "x0")])
def test_a_perfect_denoiser_recovers_x0(sampler, eta, steps, prediction):
    """With the true x0 behind every prediction, the chain ends exactly at x0."""
    s = schedules.make_schedule("linear", 100)
    x0 = jnp.linspace(-0.9, 0.9, 12).reshape(2, 6)

    def oracle(xt, t):
        ab = schedules.broadcast_to(schedules.alpha_bar_at(s, t), xt)
        return schedules.target(prediction, x0, schedules.eps_from_x0(x0, xt, ab), ab)

    x_T = jax.random.normal(jax.random.key(3), x0.shape)
    out = samplers.sample_chain(s, oracle, x_T, jax.random.key(4),
                                samplers.timestep_sequence(100, steps), sampler=sampler,
                                prediction=prediction, eta=eta, clip_x0=False)
    np.testing.assert_allclose(out, x0, atol=2e-4)


def test_timestep_sequences_are_strictly_increasing_and_end_at_the_noisiest_level():
    for steps in (1, 2, 10, 50, 999, 1000):
        seq = samplers.timestep_sequence(1000, steps)
        assert len(seq) == steps and seq[-1] == 999 and np.all(np.diff(seq) > 0)
    np.testing.assert_array_equal(samplers.timestep_sequence(1000, 1000), np.arange(1000))
    with pytest.raises(ValueError):
        samplers.timestep_sequence(10, 11)


def test_discretized_gaussian_is_a_distribution_over_the_256_values():
    values = jnp.arange(256, dtype=jnp.uint8)
    for mean, std in ((0.0, 0.01), (0.98, 0.004), (-1.3, 0.3), (0.2, 2.0)):
        logp = losses.discretized_gaussian_log_prob(values, mean, std)
        np.testing.assert_allclose(float(jnp.sum(jnp.exp(logp))), 1.0, rtol=1e-5)
    # An interior bin against scipy's CDF difference.
    pix = jnp.array([100], jnp.uint8)
    x = 100 / 255 * 2 - 1
    expected = np.log(stats.norm.cdf(x + 1 / 255, 0.1, 0.05) - stats.norm.cdf(x - 1 / 255, 0.1, 0.05))
    np.testing.assert_allclose(float(losses.discretized_gaussian_log_prob(pix, 0.1, 0.05)[0]),
                               expected, rtol=1e-5)


def test_stratified_levels_are_exact_with_every_level_and_unbiased_otherwise():
    f = np.cos(np.arange(50) / 7.0) + np.arange(50) / 10  # any function of the level
    levels, weights = losses.stratified_levels(jax.random.key(0), 50, 50)
    np.testing.assert_array_equal(np.sort(levels), np.arange(50))
    np.testing.assert_allclose(np.sum(weights * f[levels]), f.sum(), rtol=1e-6)
    draw = jax.vmap(lambda k: losses.stratified_levels(k, 50, 6))
    lv, w = draw(jax.random.split(jax.random.key(1), 20000))
    estimates = np.sum(np.asarray(w) * f[np.asarray(lv)], axis=1)
    np.testing.assert_allclose(np.mean(estimates), f.sum(), rtol=3 * estimates.std() / 141 / f.sum())


def test_variational_bound_of_the_exact_posterior_mean_is_prior_plus_decoder():
    """A denoiser that returns the true x0 makes every KL term zero when the model
    variance is the posterior's (beta_tilde): the bound is then the closed-form
    prior KL plus the decoder's binned Gaussian NLL at x0 itself."""
    s = schedules.make_schedule("linear", 20)
    pixels = jnp.array([[0, 17, 128, 255], [3, 200, 90, 64]], jnp.uint8).reshape(2, 2, 2, 1)
    x0 = losses.pixels_to_data(pixels)
    bound = losses.variational_bound(s, lambda xt, t: x0, pixels, jax.random.key(0), 20)
    decoder = -jnp.sum(losses.discretized_gaussian_log_prob(pixels, x0, jnp.sqrt(s.betas[0])),
                       axis=(1, 2, 3))
    ab = float(s.alpha_bar[-1])
    prior = 0.5 * np.sum(ab * np.asarray(x0) ** 2 + (1 - ab) - 1 - np.log(1 - ab), axis=(1, 2, 3))
    np.testing.assert_allclose(bound, prior + decoder, rtol=1e-4)


def numpy_bound(s, pixels, eps_per_level, x0_hat_fn, posterior_variance):
    """The variational bound summed over every level, in float64 NumPy/SciPy from
    the definitions: prior KL + sum_t KL(q(x_{t-1} | x_t, x0) || p) + decoder NLL.
    eps_per_level [T, B, ...]; returns nats per example [B]."""
    betas = np.asarray(s.betas, np.float64)
    ab = np.cumprod(1.0 - betas)
    x0 = np.asarray(pixels, np.float64) / 255.0 * 2.0 - 1.0
    axes = tuple(range(1, x0.ndim))

    def kl(m1, v1, m2, v2):
        return 0.5 * np.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / (2.0 * v2) - 0.5

    total = np.sum(kl(np.sqrt(ab[-1]) * x0, 1.0 - ab[-1], 0.0, 1.0), axis=axes)
    for t in range(len(betas)):
        x_t = np.sqrt(ab[t]) * x0 + np.sqrt(1.0 - ab[t]) * np.asarray(eps_per_level[t], np.float64)
        x0_hat = x0_hat_fn(x_t)
        if t == 0:
            sd = np.sqrt(betas[0])
            upper = np.where(pixels == 255, np.inf, x0 + 1 / 255)
            lower = np.where(pixels == 0, -np.inf, x0 - 1 / 255)
            p = stats.norm.cdf(upper, x0_hat, sd) - stats.norm.cdf(lower, x0_hat, sd)
            total += np.sum(-np.log(p), axis=axes)
            continue
        beta_t = 1.0 - ab[t] / ab[t - 1]
        coef_x0 = np.sqrt(ab[t - 1]) * beta_t / (1.0 - ab[t])
        coef_xt = np.sqrt(1.0 - beta_t) * (1.0 - ab[t - 1]) / (1.0 - ab[t])
        var_q = beta_t * (1.0 - ab[t - 1]) / (1.0 - ab[t])
        var_p = beta_t if posterior_variance == "beta" else var_q
        total += np.sum(kl(coef_x0 * x0 + coef_xt * x_t, var_q,
                           coef_x0 * x0_hat + coef_xt * x_t, var_p), axis=axes)
    return total


@pytest.mark.parametrize("posterior_variance", samplers.POSTERIOR_VARIANCES)
def test_variational_bound_with_every_level_is_the_brute_force_sum(posterior_variance):
    """All T levels (the exact sum): against a float64 NumPy evaluation of every
    term from its definition, with the bound's own noise draws, on 2x2 RGB
    images (the bound sums over every value)."""
    T = 12
    s = schedules.make_schedule("linear", T)
    pixels = jnp.array([[0, 17, 128, 255, 3, 9], [3, 200, 90, 64, 255, 0]] * 2,
                       jnp.uint8).reshape(2, 2, 2, 3)
    key = jax.random.key(4)
    shrink = lambda x_t: 0.5 * x_t  # noqa: E731  a denoiser with real errors
    bound = losses.variational_bound(s, lambda x_t, t: shrink(x_t), pixels, key, T,
                                     posterior_variance)
    levels = losses.bound_levels(key, 2, T, T)
    np.testing.assert_array_equal(levels, np.broadcast_to(np.arange(T)[:, None], (T, 2)))
    eps = [losses.bound_noise(key, i, pixels) for i in range(T)]
    expected = numpy_bound(s, np.asarray(pixels), eps, shrink, posterior_variance)
    np.testing.assert_allclose(bound, expected, rtol=2e-5)


def test_an_images_bound_depends_on_its_row_not_on_the_batch():
    s = schedules.make_schedule("cosine", 30)
    pixels = jax.random.randint(jax.random.key(0), (5, 3, 3, 2), 0, 256).astype(jnp.uint8)
    bound = jax.jit(lambda p: losses.variational_bound(s, lambda x_t, t: 0.7 * x_t, p,
                                                       jax.random.key(1), 6))
    full = bound(pixels)
    np.testing.assert_allclose(bound(pixels[:3]), full[:3], rtol=1e-6)
    other_rows = pixels.at[1:].set(pixels[0])
    np.testing.assert_allclose(bound(other_rows)[0], full[0], rtol=1e-6)
    assert len(np.unique(np.asarray(bound(jnp.broadcast_to(pixels[0], pixels.shape))))) > 1
