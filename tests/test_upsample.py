"""The sub-pixel formulation is the same function as nn.ConvTranspose."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.nn.upsample import ConvTransposeSubpixel, depth_to_space
from jaxgen.vae.models import Decoder


@pytest.mark.parametrize("kernel_size,stride", [(3, 2), (4, 2), (5, 2), (3, 3), (2, 2), (1, 2)])
def test_subpixel_equals_conv_transpose(kernel_size, stride):
    x = jax.random.normal(jax.random.key(0), (2, 5, 6, 3))
    reference = nn.ConvTranspose(4, (kernel_size, kernel_size), strides=(stride, stride),
                                 padding="SAME")
    params = reference.init(jax.random.key(1), x)
    fast = ConvTransposeSubpixel(4, kernel_size, stride)
    np.testing.assert_allclose(fast.apply(params, x), reference.apply(params, x), atol=1e-5)


def test_subpixel_gradients_equal_conv_transpose():
    x = jax.random.normal(jax.random.key(0), (2, 4, 4, 3))
    reference = nn.ConvTranspose(5, (3, 3), strides=(2, 2), padding="SAME")
    params = reference.init(jax.random.key(1), x)

    def loss(module, p):
        return jnp.sum(jnp.tanh(module.apply(p, x)) ** 2)

    g_ref = jax.grad(lambda p: loss(reference, p))(params)
    g_fast = jax.grad(lambda p: loss(ConvTransposeSubpixel(5), p))(params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                 g_ref, g_fast)


@pytest.mark.parametrize("upsample", ["subpixel", "fast"])
def test_decoder_same_function_and_gradients_with_any_upsampling(upsample):
    z = jax.random.normal(jax.random.key(0), (3, 2))
    params = Decoder(upsample="transpose").init(jax.random.key(1), z)
    reference, fast = Decoder(upsample="transpose"), Decoder(upsample=upsample)
    np.testing.assert_allclose(fast.apply(params, z), reference.apply(params, z), atol=1e-5)

    def loss(module, p):
        return jnp.mean(jnp.tanh(module.apply(p, z)) ** 2)

    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-6),
                 jax.grad(lambda p: loss(reference, p))(params),
                 jax.grad(lambda p: loss(fast, p))(params))


def test_depth_to_space_places_phases():
    x = jnp.arange(8.0).reshape(1, 1, 2, 4)  # two pixels, 2x2 phases each
    y = depth_to_space(x, 2)[0, :, :, 0]
    np.testing.assert_array_equal(y, [[0, 1, 4, 5], [2, 3, 6, 7]])
