"""The VAE-GAN's update rules and its feature reconstruction loss, against
independent references.

Update rules (Larsen et al. 2016, Algorithm 1, followed as written): the
encoder descends the gradient of L_prior + L_llike in theta_Enc, the decoder
that of gamma * L_llike - L_GAN in theta_Dec, the discriminator that of
-L_GAN in theta_Dis; each loss moves its own network and no other. The
stop-gradients in jaxgen/vaegan/losses.py are checked here by gradients:
each loss's gradient with respect to the other networks is exactly zero,
and with respect to its own network it equals the gradient of the same loss
written without any stop-gradient and differentiated in that network only.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.engine import config as config_lib
from jaxgen.nn import adversarial
from jaxgen.vaegan import losses, models, steps

from tiny_configs import tiny_overrides

NETWORKS = ("enc", "dec", "dis")


@pytest.fixture(scope="module")
def tiny():
    config = config_lib.build_config("vaegan", overrides=tiny_overrides("vaegan"))
    pixels = np.random.RandomState(0).randint(0, 256, (3, 28, 28, 1)).astype(np.uint8)
    params = steps.init(config, jax.random.key(0), {"image": pixels}).params
    return config, params, pixels


def gradients_of_each_loss(config, params, pixels, key) -> dict:
    """{loss name: {network: gradient pytree}}: each loss differentiated in all parameters."""
    def one(name, p):
        return losses.vaegan_losses(config, p, pixels, key)[0][name]

    @jax.jit  # one compilation of the three gradients: faster than running them op by op
    def all_grads(p):
        return {name: jax.grad(functools.partial(one, name))(p) for name in NETWORKS}
    return all_grads(params)


def max_abs(tree) -> float:
    return max(float(jnp.max(jnp.abs(leaf))) for leaf in jax.tree.leaves(tree))


@pytest.fixture(scope="module")
def grads(tiny):
    config, params, pixels = tiny
    return gradients_of_each_loss(config, params, pixels, jax.random.key(1))


@pytest.mark.parametrize("loss, others", [("dis", ("enc", "dec")),   # D's loss: not the decoder
                                          ("enc", ("dec", "dis")),   # encoder's: not D
                                          ("dec", ("enc", "dis"))])  # decoder's: not the encoder
def test_each_loss_moves_only_its_own_network(grads, loss, others):
    for other in others:
        assert max_abs(grads[loss][other]) == 0.0, f"{loss} loss moves {other}"
    assert max_abs(grads[loss][loss]) > 1e-6  # and it does move its own network


def reference_losses(config, params, pixels, key):
    """The three losses written from the paper with no stop-gradient at all:
    {name: fn(own network's params) -> loss}, every other input held fixed."""
    f = losses.forward(config, params, pixels, key)
    real = f["image"]

    def features(dis, images):
        return models.discriminate(config, dis, images)

    def llike(real_feats, recon_feats):  # -log N(a; b, I), summed over features
        return 0.5 * jnp.sum((real_feats - recon_feats) ** 2 + jnp.log(2 * jnp.pi), -1)

    def enc_loss(enc):
        mean, log_var = models.encode(config, enc, models.network_input(config, pixels))
        eps = (f["z"] - f["mean"]) / jnp.exp(0.5 * f["log_var"])  # the same noise
        z = mean + jnp.exp(0.5 * log_var) * eps
        kl = 0.5 * jnp.sum(jnp.exp(log_var) + mean ** 2 - 1.0 - log_var, -1)
        recon = models.decode(config, params["dec"], z)
        return jnp.mean(kl + llike(features(params["dis"], real)[1],
                                   features(params["dis"], recon)[1]))

    def dec_loss(dec):
        recon_logits, recon_feats = features(params["dis"], models.decode(config, dec, f["z"]))
        prior_logits, _ = features(params["dis"], models.decode(config, dec, f["z_prior"]))
        gan = jnp.mean(jax.nn.softplus(-recon_logits)) + jnp.mean(jax.nn.softplus(-prior_logits))
        return config.gamma * jnp.mean(llike(features(params["dis"], real)[1], recon_feats)) + gan

    def dis_loss(dis):
        recon = models.decode(config, params["dec"], f["z"])
        prior = models.decode(config, params["dec"], f["z_prior"])
        log_d = lambda x: jax.nn.log_sigmoid(features(dis, x)[0])       # noqa: E731
        log_1m_d = lambda x: jax.nn.log_sigmoid(-features(dis, x)[0])   # noqa: E731
        return -(jnp.mean(log_d(real)) + jnp.mean(log_1m_d(recon)) + jnp.mean(log_1m_d(prior)))

    return {"enc": enc_loss, "dec": dec_loss, "dis": dis_loss}


def test_own_gradients_equal_the_undetached_losses(tiny, grads):
    config, params, pixels = tiny
    reference = reference_losses(config, params, pixels, jax.random.key(1))
    values = losses.vaegan_losses(config, params, pixels, jax.random.key(1))[0]
    for name in NETWORKS:
        np.testing.assert_allclose(float(values[name]), float(reference[name](params[name])),
                                   rtol=1e-5)
        expected = jax.grad(reference[name])(params[name])
        for got, want in zip(jax.tree.leaves(grads[name][name]), jax.tree.leaves(expected)):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-6)


def test_train_step_gradient_is_each_networks_own(tiny, grads):
    """The one gradient train_step takes (of the sum) splits into the three rules."""
    config, params, pixels = tiny
    total = jax.jit(jax.grad(
        lambda p: losses.total_loss(config, p, pixels, jax.random.key(1))[0]))(params)
    for name in NETWORKS:
        for got, want in zip(jax.tree.leaves(total[name]), jax.tree.leaves(grads[name][name])):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-7)


def numpy_conv_same(x, kernel, bias, stride):
    """'SAME' convolution, [H, W, C] x [k, k, C, O] -> [H/s, W/s, O], by explicit sums."""
    k = kernel.shape[0]
    out = -(-x.shape[0] // stride)
    total = max((out - 1) * stride + k - x.shape[0], 0)
    lo = total // 2
    padded = np.pad(x, ((lo, total - lo), (lo, total - lo), (0, 0)))
    y = np.zeros((out, out, kernel.shape[-1]))
    for i in range(out):
        for j in range(out):
            window = padded[i * stride:i * stride + k, j * stride:j * stride + k]  # [k, k, C]
            y[i, j] = np.tensordot(window, kernel, axes=3) + bias
    return y


def test_feature_reconstruction_loss_equals_numpy():
    """Dis_1 of a one-conv discriminator on 8x8 images, and -log N(Dis_l(x); Dis_l(x~), I)."""
    rng = np.random.RandomState(3)
    real, recon = rng.rand(2, 8, 8, 1), rng.rand(2, 8, 8, 1)  # two examples each
    disc = models.Discriminator(channels=(3,), feature_layer=1)
    params = disc.init(jax.random.key(0), jnp.asarray(real, jnp.float32))
    kernel = np.asarray(params["params"]["Conv_0"]["kernel"], np.float64)
    bias = np.asarray(params["params"]["Conv_0"]["bias"], np.float64)

    def numpy_features(images):  # [N, 8, 8, 1] -> [N, 4 * 4 * 3]
        out = [numpy_conv_same(2 * im - 1, kernel, bias, 2) for im in images]
        return np.stack([np.where(o > 0, o, 0.2 * o).reshape(-1) for o in out])

    a, b = numpy_features(real), numpy_features(recon)
    expected = 0.5 * np.sum((a - b) ** 2, axis=1) + 0.5 * a.shape[1] * np.log(2 * np.pi)
    _, fa = disc.apply(params, jnp.asarray(real, jnp.float32))
    _, fb = disc.apply(params, jnp.asarray(recon, jnp.float32))
    np.testing.assert_allclose(np.asarray(fa), a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(losses.feature_nll(fa, fb)), expected, rtol=1e-5)


def test_discriminator_loss_is_the_three_term_cross_entropy():
    real, recon, prior = (np.array([0.3, -1.2]), np.array([2.0, 0.1]), np.array([-0.5, 1.5]))
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    expected = -(np.mean(np.log(sig(real))) + np.mean(np.log(1 - sig(recon)))
                 + np.mean(np.log(1 - sig(prior))))
    got = losses.discriminator_bce(jnp.asarray(real), jnp.asarray(recon), jnp.asarray(prior))
    np.testing.assert_allclose(float(got), expected, rtol=1e-6)
    # the first two terms are exactly nn.adversarial's discriminator loss
    np.testing.assert_allclose(
        float(adversarial.discriminator_loss("minimax", jnp.asarray(real), jnp.asarray(recon))),
        -(np.mean(np.log(sig(real))) + np.mean(np.log(1 - sig(recon)))), rtol=1e-6)
