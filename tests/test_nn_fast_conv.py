"""jaxgen.nn.fast_conv: same function, parameters and gradients as flax's convs."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.nn import fast_conv


def _assert_same(ref, new, x):
    # Parameters are interchangeable: same tree, same shapes (abstract init,
    # nothing compiled); random values, bias included.
    shapes = jax.eval_shape(ref.init, jax.random.key(1), x)
    assert jax.tree.map(jnp.shape, jax.eval_shape(new.init, jax.random.key(1), x)) == \
        jax.tree.map(jnp.shape, shapes)
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda a: jnp.asarray(rng.normal(size=a.shape), jnp.float32), shapes)
    cot = jnp.asarray(rng.normal(size=jax.eval_shape(ref.apply, params, x).shape), jnp.float32)

    @jax.jit  # one compile per case: op-by-op dispatch is slow on 2 cores
    def outputs(params, x):
        loss = lambda m: (lambda p, x: jnp.sum(m.apply(p, x) * cot))
        return (ref.apply(params, x), new.apply(params, x),
                jax.grad(loss(ref), argnums=(0, 1))(params, x),
                jax.grad(loss(new), argnums=(0, 1))(params, x))

    y_ref, y_new, g_ref, g_new = outputs(params, x)
    assert y_ref.shape == y_new.shape
    np.testing.assert_allclose(y_new, y_ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(jax.tree.leaves(g_ref), jax.tree.leaves(g_new)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)


CASES = [  # (size, kernel, stride, c_in, c_out)
    (8, 3, 2, 4, 6), (7, 3, 2, 3, 5), (8, 3, 1, 6, 2), (8, 4, 2, 3, 5), (7, 5, 3, 2, 3),
]


@pytest.mark.parametrize("size,k,s,c_in,c_out", CASES)
def test_conv_matches_nn_conv(size, k, s, c_in, c_out):
    method = "auto"
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, size, size, c_in)), jnp.float32)
    _assert_same(nn.Conv(c_out, (k, k), strides=(s, s), padding="SAME"),
                 fast_conv.Conv(c_out, k, s, method=method), x)


@pytest.mark.parametrize("size,k,c_in,c_out", [(8, 3, 6, 2), (6, 2, 3, 4)])
def test_conv_scatter_matches_nn_conv(size, k, c_in, c_out):
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, size, size, c_in)), jnp.float32)
    _assert_same(nn.Conv(c_out, (k, k), padding="SAME"),
                 fast_conv.Conv(c_out, k, 1, method="scatter"), x)


@pytest.mark.parametrize("size,k,s,c_in,c_out", CASES)
def test_conv_transpose_matches_nn_conv_transpose(size, k, s, c_in, c_out):
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, size, size, c_in)), jnp.float32)
    _assert_same(nn.ConvTranspose(c_out, (k, k), strides=(s, s), padding="SAME"),
                 fast_conv.ConvTranspose(c_out, k, s), x)


def test_conv_transpose_output_shape():
    x = jnp.ones((3, 4, 4, 8))
    m = fast_conv.ConvTranspose(4, 3, 2)
    y = jax.eval_shape(m.init_with_output, jax.random.key(1), x)[0]
    assert y.shape == (3, 8, 8, 4)
