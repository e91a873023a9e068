"""GAN objectives against closed forms, NumPy and brute-force references."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.gan import losses
from jaxgen.gan.models import pack_samples


def np_softplus(x):
    return np.logaddexp(0.0, x)


@pytest.mark.parametrize("kind", losses.LOSSES)
def test_losses_match_their_formulas(kind):
    """Each loss against its textbook formula, written in float64 NumPy on D = sigmoid(l)."""
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=7), rng.normal(size=5)
    d_real, d_fake = 1 / (1 + np.exp(-real)), 1 / (1 + np.exp(-fake))
    expected_d = {
        "minimax": -np.mean(np.log(d_real)) - np.mean(np.log(1 - d_fake)),
        "non_saturating": -np.mean(np.log(d_real)) - np.mean(np.log(1 - d_fake)),
        "least_squares": 0.5 * np.mean((real - 1) ** 2) + 0.5 * np.mean(fake ** 2),
        "hinge": np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake)),
        "wasserstein": np.mean(fake) - np.mean(real),
    }[kind]
    expected_g = {
        "minimax": np.mean(np.log(1 - d_fake)),
        "non_saturating": -np.mean(np.log(d_fake)),
        "least_squares": 0.5 * np.mean((fake - 1) ** 2),
        "hinge": -np.mean(fake),
        "wasserstein": -np.mean(fake),
    }[kind]
    np.testing.assert_allclose(losses.discriminator_loss(kind, jnp.asarray(real, jnp.float32),
                                                         jnp.asarray(fake, jnp.float32)),
                               expected_d, rtol=1e-5)
    np.testing.assert_allclose(losses.generator_loss(kind, jnp.asarray(fake, jnp.float32)),
                               expected_g, rtol=1e-5)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="unknown GAN loss"):
        losses.generator_loss("wgan", jnp.zeros(2))


@pytest.mark.parametrize("d_of_fake", [1e-4, 1e-2])
def test_minimax_saturates_and_non_saturating_does_not(d_of_fake):
    """At D(G(z)) -> 0: d/dl log(1 - sigmoid(l)) = -D -> 0 (no signal for G),
    d/dl -log sigmoid(l) = -(1 - D) -> -1 (full signal): the course's argument."""
    logit = jnp.asarray([np.log(d_of_fake / (1 - d_of_fake))], jnp.float32)
    g_minimax = jax.grad(lambda l: losses.generator_loss("minimax", l))(logit)[0]
    g_ns = jax.grad(lambda l: losses.generator_loss("non_saturating", l))(logit)[0]
    np.testing.assert_allclose(g_minimax, -d_of_fake, rtol=1e-4)
    np.testing.assert_allclose(g_ns, -(1 - d_of_fake), rtol=1e-4)
    assert abs(g_minimax) <= 1e-2 and abs(g_ns) >= 0.99
    # With respect to D itself the two differ the other way round, -1/(1-D) vs -1/D:
    # chain rule dD/dl = D(1-D) turns them into the values above.
    np.testing.assert_allclose(g_minimax, -1 / (1 - d_of_fake) * d_of_fake * (1 - d_of_fake),
                               rtol=1e-4)


@pytest.mark.parametrize("weight_real,weight_fake", [(1.0, 1.0), (3.0, 1.0), (0.2, 0.7)])
def test_bce_discriminator_is_optimal_at_the_density_ratio(weight_real, weight_fake):
    """At one point x with data density a and model density b, the D loss
    a*softplus(-l) + b*softplus(l) is minimised at D* = a / (a + b)."""
    def loss(l):  # the discriminator loss with the densities as example counts
        real = jnp.full((int(weight_real * 10),), l)
        fake = jnp.full((int(weight_fake * 10),), l)
        n_r, n_f = real.shape[0], fake.shape[0]
        return (n_r * losses.discriminator_loss("minimax", real, jnp.full((1,), -1e9))
                + n_f * losses.discriminator_loss("minimax", jnp.full((1,), 1e9), fake))

    optimum = jnp.log(weight_real / weight_fake)  # sigmoid(optimum) = a / (a + b)
    assert abs(float(jax.grad(loss)(optimum))) < 1e-4
    assert float(loss(optimum)) < float(loss(optimum + 0.1))
    assert float(loss(optimum)) < float(loss(optimum - 0.1))


@pytest.mark.parametrize("w,expected", [([3.0, 4.0], 16.0), ([0.6, 0.8], 0.0), ([0.3, 0.4], 0.25)])
def test_gradient_penalty_of_a_linear_critic(w, expected):
    """D(x) = w.x + b has gradient w everywhere: penalty (||w|| - 1)^2 for any interpolate."""
    w = jnp.asarray(w)
    critic = lambda x: x @ w + 0.7  # noqa: E731
    real = jax.random.normal(jax.random.key(0), (16, 2))
    fake = jax.random.normal(jax.random.key(1), (16, 2)) * 5
    gp = losses.gradient_penalty(critic, real, fake, jax.random.key(2))
    np.testing.assert_allclose(gp, expected, atol=1e-5)


def test_gradient_penalty_of_a_nonlinear_critic_matches_per_example_jacobians():
    """Images [N, 3, 3, 2] and a tanh critic: against jax.jacfwd of each example alone."""
    k = jax.random.split(jax.random.key(3), 5)
    a = jax.random.normal(k[0], (18, 4))
    critic_one = lambda x: jnp.sum(jnp.tanh(x.reshape(-1) @ a))  # noqa: E731
    critic = jax.vmap(critic_one)
    real = jax.random.normal(k[1], (6, 3, 3, 2))
    fake = jax.random.normal(k[2], (6, 3, 3, 2))
    gp = losses.gradient_penalty(critic, real, fake, k[3])

    x_hat = np.asarray(losses.interpolate(real, fake, k[3]))
    norms = [np.linalg.norm(np.asarray(jax.jacfwd(critic_one)(jnp.asarray(x)))) for x in x_hat]
    np.testing.assert_allclose(gp, np.mean((np.asarray(norms) - 1) ** 2), rtol=1e-5)
    # The interpolates lie on the segments between each real and its fake.
    eps = (x_hat - np.asarray(fake)) / (np.asarray(real) - np.asarray(fake))
    assert np.allclose(eps, eps[:, :1, :1, :1], atol=1e-4) and (0 <= eps).all() and (eps <= 1).all()


def test_weight_clipping_bounds_every_parameter():
    params = {"a": jnp.array([-3.0, -0.005, 0.0, 0.004, 2.0]),
              "b": {"kernel": jax.random.normal(jax.random.key(0), (4, 4)) * 10}}
    clipped = losses.clip_weights(params, 0.01)
    for leaf in jax.tree.leaves(clipped):
        assert float(jnp.max(jnp.abs(leaf))) <= 0.01
    np.testing.assert_array_equal(clipped["a"], np.float32([-0.01, -0.005, 0.0, 0.004, 0.01]))


@pytest.mark.parametrize("shape", [(8, 3), (6, 4, 4, 2)])
def test_pack_samples_concatenates_consecutive_examples(shape):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    pack = 2
    packed = np.asarray(pack_samples(jnp.asarray(x), pack))
    expected = np.concatenate([x[j::pack] for j in range(pack)], axis=-1)
    np.testing.assert_array_equal(packed, expected)
    np.testing.assert_array_equal(np.asarray(pack_samples(jnp.asarray(x), 1)), x)
