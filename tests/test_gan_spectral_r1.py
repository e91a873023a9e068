"""Spectral normalisation of D and the R1 penalty against independent references:
NumPy's SVD for the singular values, closed-form input gradients for R1."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.gan import family as gan_family
from jaxgen.gan import losses, models, spectral, steps

from test_gan_family import random_batch, tiny_config


def top_singular(matrix):
    return np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)[0]


def iterated(params, vectors, times):
    for _ in range(times):
        vectors = spectral.power_step(params, vectors)
    return vectors


@pytest.mark.parametrize("shape", [(4, 4, 3, 8), (12, 5), (7, 1), (3, 3, 2, 16)])
def test_power_iteration_converges_to_the_largest_singular_value(shape):
    """sigma(W; u) after many power steps is numpy's largest singular value of the
    reshaped [k * k * C_in, C_out] matrix, and W / sigma has spectral norm 1."""
    kernel = jax.random.normal(jax.random.key(0), shape)
    params = {"Conv_0": {"kernel": kernel, "bias": jnp.ones(shape[-1])}}
    vectors = iterated(params, spectral.init_vectors(params, jax.random.key(1)), 200)
    matrix = np.asarray(kernel).reshape(-1, shape[-1])
    np.testing.assert_allclose(spectral.sigma(kernel, vectors["Conv_0/kernel"]),
                               top_singular(matrix), rtol=1e-4)
    normalised = spectral.normalise(params, vectors)
    np.testing.assert_allclose(top_singular(np.asarray(normalised["Conv_0"]["kernel"])
                                            .reshape(-1, shape[-1])), 1.0, rtol=1e-4)
    np.testing.assert_array_equal(normalised["Conv_0"]["bias"], params["Conv_0"]["bias"])


def test_one_power_step_never_overestimates_and_improves():
    """||W u|| <= sigma_max for any unit u, and a power step does not lower it."""
    kernel = jax.random.normal(jax.random.key(2), (4, 4, 8, 16))
    params = {"k": {"kernel": kernel}}
    exact = top_singular(np.asarray(kernel).reshape(-1, 16))
    vectors = spectral.init_vectors(params, jax.random.key(3))
    previous = float(spectral.sigma(kernel, vectors["k/kernel"]))
    for _ in range(5):
        vectors = spectral.power_step(params, vectors)
        now = float(spectral.sigma(kernel, vectors["k/kernel"]))
        assert previous - 1e-5 <= now <= exact * (1 + 1e-5)
        previous = now


def test_gradient_of_sigma_is_v_u_transposed():
    """At convergence d sigma / d W = v u^T with u, v numpy's top singular vectors."""
    w = jax.random.normal(jax.random.key(4), (9, 6))
    vectors = iterated({"d": {"kernel": w}}, spectral.init_vectors({"d": {"kernel": w}},
                                                                    jax.random.key(5)), 300)
    grad = jax.grad(spectral.sigma)(w, vectors["d/kernel"])
    left, _, right_t = np.linalg.svd(np.asarray(w, np.float64))
    expected = np.outer(left[:, 0], right_t[0])  # sign of the pair cancels
    np.testing.assert_allclose(grad, expected, atol=1e-4)


def test_only_kernels_are_normalised():
    """Biases and a projection discriminator's class embedding keep their values."""
    config = tiny_config("cgan", d_spectral_norm=True)
    batch = random_batch(config)
    state = gan_family.init(config, jax.random.key(0), batch)
    names = set(state.extra["d_spectral"])
    assert names and all(n.endswith("/kernel") for n in names)
    normalised = spectral.normalise(state.params["d"], state.extra["d_spectral"])
    flat_new = dict(jax.tree_util.tree_flatten_with_path(normalised)[0])
    for path, leaf in jax.tree_util.tree_flatten_with_path(state.params["d"])[0]:
        name = "/".join(k.key for k in path)
        same = np.array_equal(leaf, flat_new[path])
        assert same == (name not in names), name


def test_spectral_norm_train_step_refreshes_vectors_and_d_uses_normalised_weights():
    """A critic update does one power step per update before its gradient, and the
    eval step's D outputs are the network on W / sigma."""
    config = tiny_config("dcgan", d_spectral_norm=True, batch_size=8)
    batch = random_batch(config)
    state = gan_family.init(config, jax.random.key(0), batch)
    real = models.real_examples(config, batch)
    after, _ = steps.discriminator_steps(config, state, real, None, jax.random.key(1))
    want = spectral.power_step(state.params["d"], state.extra["d_spectral"])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6),
                 after.extra["d_spectral"], want)
    # The gradient D was updated with is that of the loss on the normalised weights.
    key = jax.random.split(jax.random.key(1), 1)[0]

    def loss(d):
        return steps.critic_objective(config, d, state.params["g"], models.g_batch_stats(state),
                                      real, None, key, want)[0]
    grads = jax.grad(loss)(state.params["d"])
    step = jax.tree.map(lambda a, b: a - b, after.params["d"], state.params["d"])
    lr = config.optim.d.learning_rate  # Adam's first step: -lr * sign(grad)
    jax.tree.map(lambda s, g: np.testing.assert_allclose(
        s, -lr * g / (jnp.abs(g) + 1e-8), rtol=1e-3, atol=1e-8), step, grads)
    metrics = steps.eval_step(config, after, batch, jax.random.key(2))
    k_z, k_d = jax.random.split(jax.random.key(2))
    d_eff = spectral.normalise(after.params["d"], after.extra["d_spectral"])
    real_out = models.discriminate(config, d_eff, real, None, k_d, train=False)
    np.testing.assert_allclose(metrics["d_real"], jnp.mean(real_out), rtol=1e-5)
    raw_out = models.discriminate(config, after.params["d"], real, None, k_d, train=False)
    assert not np.allclose(metrics["d_real"], jnp.mean(raw_out))


def test_r1_penalty_matches_the_closed_form_gradient():
    """D(x) = 0.5 x^T A x + b . x has grad A_sym x + b; R1 = mean ||A_sym x + b||^2."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=6)
    x = rng.normal(size=(5, 2, 3))  # examples of shape [2, 3], flattened to 6

    def critic(batch):  # [N, 2, 3] -> [N]
        flat = batch.reshape(batch.shape[0], -1)
        return 0.5 * jnp.einsum("ni,ij,nj->n", flat, a, flat) + flat @ b

    grads = x.reshape(5, 6) @ (0.5 * (a + a.T)) + b  # [N, 6]
    np.testing.assert_allclose(losses.r1_penalty(critic, jnp.asarray(x)),
                               np.mean(np.sum(grads ** 2, axis=1)), rtol=1e-5)


def test_r1_in_the_critic_loss_is_per_example_and_weighted_by_half_gamma():
    """aux["r1"] = mean over real examples of ||grad_x D(x)||^2, each example's gradient
    taken alone, and the loss grows by gamma / 2 times it."""
    gamma = 3.0
    config = tiny_config("dcgan", r1_weight=gamma, batch_size=4)
    plain = tiny_config("dcgan", batch_size=4)
    batch = random_batch(config)
    state = gan_family.init(config, jax.random.key(0), batch)
    real = models.real_examples(config, batch)
    key = jax.random.key(7)
    args = (state.params["d"], state.params["g"], models.g_batch_stats(state), real, None, key)
    loss, aux = steps.critic_objective(config, *args)
    loss_plain, _ = steps.critic_objective(plain, *args)

    def critic_one(x):
        return models.discriminate_packed(config, state.params["d"], x[None], None,
                                          jax.random.key(0), train=False)[0]
    norms = [np.sum(np.asarray(jax.grad(critic_one)(x)) ** 2) for x in real]
    np.testing.assert_allclose(aux["r1"], np.mean(norms), rtol=1e-4)
    np.testing.assert_allclose(loss - loss_plain, 0.5 * gamma * aux["r1"], rtol=1e-4)


@pytest.mark.parametrize("family", ["dcgan", "cgan", "wgan_gp", "gan"])
def test_spectral_norm_and_r1_train_and_sample_in_every_family(family):
    config = tiny_config(family, d_spectral_norm=True, r1_weight=1.0, ema_decay=0.9,
                         loss="hinge")
    batch = random_batch(config)
    state = gan_family.init(config, jax.random.key(0), batch)
    state, metrics = jax.jit(lambda s, b, k: steps.train_step(config, s, b, k))(
        state, batch, jax.random.key(1))
    assert np.isfinite(float(metrics["r1"])) and set(state.extra) >= {"d_spectral"}
    from jaxgen.gan import sampling
    images = sampling.sample(config, state, jax.random.key(2), 3)
    assert images.shape[0] == 3 and np.all(np.isfinite(np.asarray(images)))


def test_ema_warmup_follows_the_new_weights_early():
    """With ema_warmup the first update uses decay min(ema_decay, 1 / 10)."""
    config = tiny_config("dcgan", ema_decay=0.999, ema_warmup=True, batch_size=8)
    batch = random_batch(config)
    state = gan_family.init(config, jax.random.key(0), batch)
    real = models.real_examples(config, batch)
    after, _ = steps.generator_step(config, state, real, None, jax.random.key(1))
    jax.tree.map(lambda e, old, new: np.testing.assert_allclose(e, 0.1 * old + 0.9 * new,
                                                                rtol=1e-5, atol=1e-7),
                 after.ema_params, state.params["g"], after.params["g"])


def test_recomputed_batch_stats_are_the_ema_generators_own():
    """ema_batch_stats="recompute": the first batch norm's statistics are the mean and
    (biased) variance of the EMA generator's first Dense output on the fixed latents."""
    from jaxgen.gan import sampling
    config = tiny_config("dcgan", ema_decay=0.9, sample_from="ema", ema_batch_stats="recompute")
    batch = random_batch(config)
    state = gan_family.init(config, jax.random.key(0), batch)
    ema = jax.tree.map(lambda p: p * 1.5, state.ema_params)  # an EMA unlike the raw weights
    stats = sampling.standing_batch_stats(config, ema, models.g_batch_stats(state))
    z = models.latents(config, jax.random.key(sampling.STANDING_SEED), sampling.STANDING_NUM)
    dense = ema["Dense_0"]
    h = np.asarray(z @ dense["kernel"] + dense["bias"])  # [N, h0 * w0 * C0], channels last
    h = h.reshape(len(h), -1, config.g_channels[0]).reshape(-1, config.g_channels[0])
    np.testing.assert_allclose(stats["BatchNorm_0"]["mean"], h.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats["BatchNorm_0"]["var"], h.var(0), rtol=1e-3, atol=1e-5)
    # Sampling uses them: different images from the running averages' ones.
    state = state.replace(ema_params=ema)
    recomputed = sampling.sample(config, state, jax.random.key(3), 4)
    config.ema_batch_stats = "running"
    running = sampling.sample(config, state, jax.random.key(3), 4)
    assert not np.allclose(recomputed, running)
