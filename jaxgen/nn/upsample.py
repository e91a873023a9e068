"""A transposed convolution computed as a sub-pixel convolution.

On CPU, XLA computes the weight gradient of `nn.ConvTranspose` about 10x more
slowly than its forward pass (DESIGN.md, "Performance facts"). A stride-s
transposed convolution is the same linear map as an ordinary convolution with
s*s*C_out output channels followed by depth-to-space: output pixel
(s*m + p, s*n + q) only ever reads input pixels near (m, n), through the taps
of the kernel that land on phase (p, q). `ConvTransposeSubpixel` holds exactly
the parameters of `nn.ConvTranspose` (kernel [k, k, C_in, C_out], bias), so
checkpoints and initialisation are interchangeable; it only rearranges the
kernel taps into a small dense kernel before a plain, fast convolution.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.nn.conv_params import SameConvParams


def _same_padding_before(kernel_size: int, stride: int) -> int:
    """Zeros that 'SAME' puts before the stride-dilated input of a transposed
    conv, as in `jax.lax.conv_transpose` (output length = stride * input)."""
    pad_total = kernel_size + stride - 2
    return kernel_size - 1 if stride > kernel_size - 1 else int(np.ceil(pad_total / 2))


def phase_taps(kernel_size: int, stride: int):
    """For each output phase p, the (input offset, kernel tap) pairs it sums.

    Output o = stride*m + p reads input m + d through tap t whenever
    stride*(m + d) = o + t - pad, i.e. d = (p + t - pad) / stride is an integer.
    """
    pad = _same_padding_before(kernel_size, stride)
    return [[((p + t - pad) // stride, t) for t in range(kernel_size)
             if (p + t - pad) % stride == 0] for p in range(stride)]


def subpixel_kernel(kernel: jax.Array, stride: int):
    """[k, k, C_in, C_out] transposed-conv kernel -> ([w, w, C_in, s*s*C_out] dense
    kernel, (offset_min, offset_max)) for a stride-1 convolution."""
    k = kernel.shape[0]
    taps = phase_taps(k, stride)
    offsets = [d for phase in taps for d, _ in phase]
    d_min, d_max = min(offsets), max(offsets)
    width = d_max - d_min + 1
    # gather[a, p] = tap index used at window position a by phase p, or k (a zero tap).
    gather = np.full((width, stride), k, np.int64)
    for p, phase in enumerate(taps):
        for d, t in phase:
            gather[d - d_min, p] = t
    padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))  # index k is all zeros
    # dense[a, b, i, p, q, o] = padded[gather[a, p], gather[b, q], i, o]
    dense = padded[gather[:, None, :, None], gather[None, :, None, :]]  # [w, w, s, s, Ci, Co]
    dense = jnp.transpose(dense, (0, 1, 4, 2, 3, 5))  # [w, w, Ci, s, s, Co]
    c_in, c_out = kernel.shape[2], kernel.shape[3]
    return dense.reshape(width, width, c_in, stride * stride * c_out), (d_min, d_max)


def depth_to_space(x: jax.Array, stride: int) -> jax.Array:
    """[B, H, W, s*s*C] with channels ordered (p, q, c) -> [B, s*H, s*W, C]."""
    b, h, w, c = x.shape
    c_out = c // (stride * stride)
    x = x.reshape(b, h, w, stride, stride, c_out)
    x = jnp.transpose(x, (0, 1, 3, 2, 4, 5))  # [B, H, p, W, q, C]
    return x.reshape(b, h * stride, w * stride, c_out)


class ConvTransposeSubpixel(SameConvParams):
    """Same function and parameters as `nn.ConvTranspose(features, (k, k),
    strides=(s, s), padding='SAME')`, computed as conv + depth-to-space."""

    stride: int = 2

    @nn.compact
    def __call__(self, x):  # [B, H, W, C_in] -> [B, s*H, s*W, features]
        s = self.stride
        x = self.compute_input(x)
        kernel, bias = self.kernel_and_bias(x.shape[-1])
        dense, (d_min, d_max) = subpixel_kernel(kernel, s)
        # Output pixel m of every phase reads inputs m + d_min .. m + d_max, and
        # 'SAME' always has d_min <= 0 <= d_max: pad by that much on each side.
        y = jax.lax.conv_general_dilated(
            x, dense.astype(x.dtype), window_strides=(1, 1),
            padding=((-d_min, d_max), (-d_min, d_max)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"))  # [B, H, W, s*s*features]
        y = depth_to_space(y, s)
        return y if bias is None else y + bias.astype(y.dtype)
