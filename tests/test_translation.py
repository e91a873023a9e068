"""Pix2Pix and CycleGAN: the PatchGAN's receptive field, the history pool,
the cycle loss, L1-only Pix2Pix as a regression, the learning-rate decay,
and what `sample` translates."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgen.engine import config as config_lib
from jaxgen.translation import cyclegan, losses, pix2pix, pool, sampling
from jaxgen.translation.models import PatchGAN, receptive_field, to_signed

from tiny_configs import tiny_overrides


def build(family, **overrides):
    return config_lib.build_config(family, overrides=tiny_overrides(family, **overrides))


def gradient_support(d, params, x):
    """Rows and columns of the input on which the centre output depends."""
    out = d.apply(params, x)
    c = out.shape[1] // 2
    g = np.abs(np.asarray(jax.grad(lambda v: d.apply(params, v)[0, c, c, 0])(x)[0])).sum(-1)
    rows, cols = np.nonzero(g)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


@pytest.mark.parametrize("layers,expected", [(1, 16), (2, 34)])
def test_patchgan_receptive_field_is_the_support_of_an_output_gradient(layers, expected):
    assert receptive_field(layers) == expected
    d = PatchGAN(channels=2, layers=layers, norm="none")
    x = jax.random.normal(jax.random.key(0), (1, 80, 80, 2))
    params = d.init(jax.random.key(1), x)
    assert gradient_support(d, params, x) == (expected, expected)


def test_receptive_field_of_the_papers_three_layers_is_70():
    assert receptive_field(3) == 70


def test_whole_image_discriminator_sees_every_pixel():
    d = PatchGAN(channels=2, layers=1, output="image", norm="none")
    x = jax.random.normal(jax.random.key(0), (1, 28, 28, 1))
    params = d.init(jax.random.key(1), x)
    assert d.apply(params, x).shape == (1, 1)
    g = jax.grad(lambda v: d.apply(params, v)[0, 0])(x)
    assert np.all(np.abs(np.asarray(g)) > 0)


def _filled_pool(size=5):
    p = pool.empty_pool(size, (2, 2, 1))
    stored = jnp.arange(size, dtype=jnp.float32)[:, None, None, None] * jnp.ones((size, 2, 2, 1))
    p, out = pool.query(p, stored, jax.random.key(0))
    return p, stored, out


def test_pool_stores_and_returns_new_images_until_full():
    p, stored, out = _filled_pool()
    np.testing.assert_array_equal(out, stored)  # not yet full: the new images come back
    np.testing.assert_array_equal(p["images"], stored)
    assert int(p["count"]) == 5


def test_full_pool_returns_a_stored_image_half_the_time_and_keeps_the_new_one():
    p, _, _ = _filled_pool()
    new = 100.0 + jnp.arange(400, dtype=jnp.float32)[:, None, None, None] * jnp.ones((400, 2, 2, 1))
    p2, out = pool.query(p, new, jax.random.key(3))
    from_pool = np.asarray(out[:, 0, 0, 0]) != np.asarray(new[:, 0, 0, 0])
    # Binomial(400, 1/2): mean 200, standard deviation 10.
    assert abs(from_pool.sum() - 200) < 40
    # Each image handed out from the pool was swapped for the new one: the final
    # pool holds only images that were stored or queried, and the newest swaps.
    values = set(np.asarray(p2["images"][:, 0, 0, 0]).tolist())
    assert values <= set(range(5)) | set((100.0 + np.arange(400)).tolist())
    assert values & set((100.0 + np.arange(400)).tolist())
    # Deterministic for a key; another key draws differently.
    _, again = pool.query(p, new, jax.random.key(3))
    np.testing.assert_array_equal(out, again)
    _, other = pool.query(p, new, jax.random.key(4))
    assert not np.array_equal(out, other)


def test_cycle_and_identity_losses_vanish_for_identity_generators(monkeypatch):
    config = build("cyclegan", dataset="fashion_mnist", dataset_b="fashion_mnist",
                   identity_weight="0.5")
    rng = np.random.default_rng(0)
    a = to_signed(jnp.asarray(rng.integers(0, 256, (4, 28, 28, 1)).astype(np.uint8)))
    state = cyclegan.init(config, jax.random.key(0), {"a": a, "b": a})
    g = {n: state.params[n] for n in cyclegan.GENERATORS}
    d = {n: state.params[n] for n in cyclegan.DISCRIMINATORS}
    _, (parts, _) = cyclegan.g_objective(config, g, d, a, a + 0.1)
    assert float(parts["cycle"]) > 0 and float(parts["identity"]) > 0  # a real U-Net moves images
    monkeypatch.setattr(cyclegan, "translate", lambda config, params, name, x: x)
    _, (parts, _) = cyclegan.g_objective(config, g, d, a, a)
    assert float(parts["cycle"]) == 0.0 and float(parts["identity"]) == 0.0
    assert float(losses.cycle_loss(a, a, a, a)) == 0.0


def test_l1_only_pix2pix_is_a_regression():
    config = build("pix2pix", gan_weight="0", g_dropout_layers="0")
    rng = np.random.default_rng(0)
    batch = {"a": rng.integers(0, 256, (4, 28, 28, 1)).astype(np.uint8),
             "b": rng.integers(0, 256, (4, 28, 28, 1)).astype(np.uint8)}
    state = pix2pix.init(config, jax.random.key(0), batch)
    new, metrics = pix2pix.train_step(config, state, batch, jax.random.key(1))
    # The regression written out: Adam on l1_weight * mean |G(a) - b|.
    x, y = to_signed(batch["a"]), to_signed(batch["b"])

    def regression(params):
        return config.l1_weight * jnp.mean(jnp.abs(
            pix2pix.generate(config, params, x, None, dropout=False) - y))

    grads = jax.grad(regression)(state.params["g"])
    opt = optax.adam(2e-4, b1=0.5, b2=0.999)
    updates, _ = opt.update(grads, opt.init(state.params["g"]), state.params["g"])
    want = optax.apply_updates(state.params["g"], updates)
    for p, q in zip(jax.tree.leaves(new.params["g"]), jax.tree.leaves(want)):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-7)
    for p, q in zip(jax.tree.leaves(new.params["d"]), jax.tree.leaves(state.params["d"])):
        np.testing.assert_array_equal(p, q)  # D is not trained for L1 only
    assert "d_loss" not in metrics


def test_cyclegan_learning_rate_is_constant_then_linear_to_zero():
    got = [float(cyclegan.decay_factor(t, 100)) for t in (0, 25, 50, 75, 100)]
    np.testing.assert_allclose(got, [1.0, 1.0, 1.0, 0.5, 0.0], atol=1e-6)


def test_sample_translates_the_condition_or_the_first_test_inputs():
    config = build("pix2pix", sample_dropout="false")
    inputs = sampling.first_inputs(config, 3)
    state = pix2pix.init(config, jax.random.key(0), {"a": inputs, "b": inputs})
    from_test = sampling.sample(config, state, jax.random.key(1), 3)
    given = sampling.sample(config, state, jax.random.key(2), 3, {"a": inputs})
    np.testing.assert_allclose(from_test, given, rtol=1e-6)
    assert from_test.shape == (3, 28, 28, 1)
    other = sampling.sample(config, state, jax.random.key(2), 3, {"image": 1.0 - inputs / 255.0})
    assert not np.allclose(other, given)
