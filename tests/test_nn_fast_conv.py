"""jaxgen.nn.fast_conv: same function, parameters and gradients as flax's convs."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.nn import fast_conv


def _assert_same(ref, new, x):
    params = ref.init(jax.random.key(1), x)
    # Parameters are interchangeable: same tree, same shapes.
    new_params = new.init(jax.random.key(1), x)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, new_params)
    params = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(jax.random.key(3), a.shape), params)
    cot = jax.random.normal(jax.random.key(2), jax.eval_shape(ref.apply, params, x).shape)

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
    x = jax.random.normal(jax.random.key(0), (2, size, size, c_in))
    _assert_same(nn.Conv(c_out, (k, k), strides=(s, s), padding="SAME"),
                 fast_conv.Conv(c_out, k, s, method=method), x)


@pytest.mark.parametrize("size,k,c_in,c_out", [(8, 3, 6, 2), (6, 2, 3, 4)])
def test_conv_scatter_matches_nn_conv(size, k, c_in, c_out):
    x = jax.random.normal(jax.random.key(0), (2, size, size, c_in))
    _assert_same(nn.Conv(c_out, (k, k), padding="SAME"),
                 fast_conv.Conv(c_out, k, 1, method="scatter"), x)


@pytest.mark.parametrize("size,k,s,c_in,c_out", CASES)
def test_conv_transpose_matches_nn_conv_transpose(size, k, s, c_in, c_out, monkeypatch):
    # Alternate the two backward formulations across cases (one compile each).
    dx, dw = [("gemm", "concat"), ("conv", "taps")][(size + k + s) % 2]
    monkeypatch.setattr(fast_conv, "SCATTER_DX", dx)
    monkeypatch.setattr(fast_conv, "SCATTER_DW", dw)
    x = jax.random.normal(jax.random.key(0), (2, size, size, c_in))
    _assert_same(nn.ConvTranspose(c_out, (k, k), strides=(s, s), padding="SAME"),
                 fast_conv.ConvTranspose(c_out, k, s), x)


def test_vae_decoder_shapes_under_jit():
    x = jax.random.normal(jax.random.key(0), (3, 4, 4, 8))
    m = fast_conv.ConvTranspose(4, 3, 2)
    p = m.init(jax.random.key(1), x)
    y = jax.jit(m.apply)(p, x)
    assert y.shape == (3, 8, 8, 4)
