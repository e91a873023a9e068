"""StyleGAN2's modulated and demodulated convolution (Karras et al. 2020, Sec. 2.2).

A style vector s [B, C_in] scales the kernel's input channels per example,
w'_{kio} = s_i w_{kio}; demodulation then rescales each output channel by
d_o = 1 / sqrt(sum_{k,i} w'_{kio}^2 + eps), so that for inputs of unit
variance, i.i.d. over pixels and channels, every output feature map again has
unit variance (Var y_o = sum_{k,i} (d_o w'_{kio})^2 = 1). This replaces
AdaIN's normalisation of activations by an expected-statistics argument on
the weights, which removes StyleGAN's droplet artefacts.

The per-example kernel is never built: scaling the input channels by s, one
shared convolution, then scaling the outputs by d is the same linear map
(the "non-fused" form of the paper's code) and runs as one ordinary GEMM
convolution (jaxgen.nn.fast_conv), which is what a CPU does well.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.nn import fast_conv


def demodulation(kernel, styles, eps: float = 1e-8):
    """d [B, C_out] = 1 / sqrt(sum_{k, k', i} (s_bi w_{kk'io})^2 + eps).
    kernel [k, k, C_in, C_out], styles [B, C_in]."""
    sq_per_input = jnp.sum(kernel ** 2, axis=(0, 1))  # [C_in, C_out]
    return jax.lax.rsqrt(styles ** 2 @ sq_per_input + eps)  # [B, C_out]


def conv(x, kernel, impl: str = "fast"):
    """'SAME' stride-1 convolution, NHWC x HWIO: jaxgen's GEMM form ("fast")
    or XLA's own convolution ("flax"; a smaller program, quicker to compile)."""
    if impl == "fast":
        return fast_conv.conv_same(x, kernel)
    if impl == "flax":
        return jax.lax.conv_general_dilated(x, kernel.astype(x.dtype), (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    raise ValueError(f"unknown conv {impl!r}; choose from {fast_conv.CONV_CHOICES}")


def modulated_conv(x, kernel, styles, demodulate: bool = True, eps: float = 1e-8,
                   impl: str = "fast"):
    """'SAME' convolution of x [B, H, W, C_in] with kernel [k, k, C_in, C_out],
    its input channels scaled by styles [B, C_in] per example and, with
    `demodulate`, each output channel normalised by `demodulation`. [B, H, W, C_out]"""
    y = conv(x * styles[:, None, None, :], kernel, impl)  # [B, H, W, C_out]
    if demodulate:
        y = y * demodulation(kernel, styles, eps)[:, None, None, :]
    return y


class ModulatedConv(nn.Module):
    """x [B, H, W, C_in], w [B, w_dim] -> [B, H, W, features] (no bias: the caller
    adds it after the noise). The style is an affine map of w with bias 1 (so
    a layer starts unmodulated); the kernel is stored N(0, 1) and scaled by
    1 / sqrt(fan_in) when used (the equalised learning rate of StyleGAN), so
    Adam's step size means the same in every layer."""

    features: int
    kernel_size: int = 3
    demodulate: bool = True
    impl: str = "fast"  # fast_conv.CONV_CHOICES

    @nn.compact
    def __call__(self, x, w):
        c_in, k = x.shape[-1], self.kernel_size
        styles = nn.Dense(c_in, bias_init=nn.initializers.ones, name="affine")(w)  # [B, C_in]
        weight = self.param("kernel", nn.initializers.normal(1.0), (k, k, c_in, self.features))
        weight = weight * jax.lax.rsqrt(float(k * k * c_in))
        return modulated_conv(x, weight, styles, self.demodulate, impl=self.impl)
