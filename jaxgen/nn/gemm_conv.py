"""Convolutions written as one matrix multiply plus cheap data movement.

XLA on CPU runs dense matrix multiplies near the machine's peak but computes
convolution weight gradients several times more slowly than the forward
pass (DESIGN.md, "Performance facts"; benchmarks/results). These modules
compute the same functions, with the same parameters, as `nn.Conv` and
`nn.ConvTranspose` with 'SAME' padding, so that forward and both gradients
are matrix multiplies:

- `Conv` gathers the k*k shifted (strided) views of the input next to each
  other ("im2col") and multiplies by the kernel reshaped to [k*k*C_in, C_out].
- `ConvTranspose` multiplies every input pixel by the kernel reshaped to
  [C_in, k*k*C_out] and adds each of the k*k results into the output pixel
  it lands on ("col2im"), phase by phase, then interleaves the phases.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.nn.upsample import depth_to_space, phase_taps


def same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """'SAME' padding of `nn.Conv` (as TensorFlow/XLA): output = ceil(size / stride)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def im2col(x, kernel_size: int, stride: int):
    """[B, H, W, C] -> [B, H', W', k*k*C], taps ordered (row, column, channel)."""
    _, h, w, _ = x.shape
    (top, bottom), (left, right) = (same_padding(h, kernel_size, stride),
                                    same_padding(w, kernel_size, stride))
    x = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out_h, out_w = -(-h // stride), -(-w // stride)
    views = [x[:, i:i + stride * (out_h - 1) + 1:stride, j:j + stride * (out_w - 1) + 1:stride]
             for i in range(kernel_size) for j in range(kernel_size)]
    return jnp.concatenate(views, axis=-1)


def shift(x, dh: int, dw: int):
    """y[:, m, n] = x[:, m + dh, n + dw], zero where that falls outside. [B, H, W, C]"""
    _, h, w, _ = x.shape
    x = jnp.pad(x, ((0, 0), (max(-dh, 0), max(dh, 0)), (max(-dw, 0), max(dw, 0)), (0, 0)))
    return x[:, max(dh, 0):max(dh, 0) + h, max(dw, 0):max(dw, 0) + w]


class Conv(nn.Module):
    """`nn.Conv(features, (k, k), strides=(s, s), padding='SAME')` as one GEMM."""

    features: int
    kernel_size: int = 3
    stride: int = 1
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x):  # [B, H, W, C_in] -> [B, H/s, W/s, features]
        k, c_in = self.kernel_size, x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (k, k, c_in, self.features))
        bias = self.param("bias", self.bias_init, (self.features,))
        if self.stride == 1 and self.features < c_in:
            # Few output channels (e.g. the last layer): multiply first, at
            # k*k*C_out columns, then add the shifted results.
            taps = x @ jnp.transpose(kernel, (2, 0, 1, 3)).reshape(c_in, k * k * self.features)
            taps = taps.reshape(x.shape[:3] + (k, k, self.features))
            before = same_padding(x.shape[1], k, 1)[0]
            y = sum(shift(taps[..., i, j, :], i - before, j - before)
                    for i in range(k) for j in range(k))
            return y + bias
        return im2col(x, k, self.stride) @ kernel.reshape(k * k * c_in, self.features) + bias


class ConvTranspose(nn.Module):
    """`nn.ConvTranspose(features, (k, k), strides=(s, s), padding='SAME')` as one GEMM."""

    features: int
    kernel_size: int = 3
    stride: int = 2
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x):  # [B, H, W, C_in] -> [B, s*H, s*W, features]
        k, s, c_in = self.kernel_size, self.stride, x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (k, k, c_in, self.features))
        bias = self.param("bias", self.bias_init, (self.features,))
        taps = x @ jnp.transpose(kernel, (2, 0, 1, 3)).reshape(c_in, k * k * self.features)
        taps = taps.reshape(x.shape[:3] + (k, k, self.features))  # [B, H, W, k, k, C_out]
        per_axis = phase_taps(k, s)  # phase -> [(input offset d, kernel tap t)]
        phases = [sum(shift(taps[..., th, tw, :], dh, dw)
                      for dh, th in per_axis[p] for dw, tw in per_axis[q])
                  for p in range(s) for q in range(s)]
        y = jnp.concatenate(phases, axis=-1)  # [B, H, W, (p, q, C_out)]
        return depth_to_space(y, s) + bias
