"""Masked (causal) convolutions for autoregressive models, as explicit tap lists.

A masked k x k convolution is an ordinary convolution whose kernel is zero
outside an allowed set of taps. Here the allowed taps are the layer's
definition: `taps` is a tuple of (di, dj) offsets and the output at (i, j) is

    y[i, j] = sum_t x[i + di_t, j + dj_t] @ W_t + b        (zero outside the image)

so the masked-out taps cost neither parameters nor FLOPs (a 7x7 mask-A
kernel keeps 24 of 49 taps, a 1x3 horizontal one 1 or 2). The forward is one
concatenation of shifted copies of x followed by one GEMM; autodiff turns that
into one GEMM for dW and T shifted adds of x's size for dx, all cheap on CPU.

Raster order with one data channel per pixel: pixel (i, j) comes before
(i', j') iff i < i' or (i == i' and j < j'). "Mask A" excludes the centre tap
(the first layer: pixel i must not see itself); "mask B" includes it (later
layers, whose features at i already depend only on pixels before i).

Besides the whole-image `__call__`, `TapConv` evaluates itself at one pixel
or along one row of a pre-padded buffer: the cached samplers use those to
recompute only what a newly sampled pixel changes.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Taps = tuple  # of (di, dj) pairs


def raster_causal_taps(kernel_size: int, include_center: bool) -> Taps:
    """PixelCNN masks: every row above in the window, the same row to the left,
    and the centre for mask B (include_center=True), not for mask A."""
    r = kernel_size // 2
    above = [(di, dj) for di in range(-r, 0) for dj in range(-r, r + 1)]
    left = [(0, dj) for dj in range(-r, 0)]
    return tuple(above + left + ([(0, 0)] if include_center else []))


def vertical_taps(kernel_size: int, include_current_row: bool) -> Taps:
    """Gated PixelCNN vertical stack: the rows above (and the current row, for
    layers whose input already depends only on rows above), every column of
    the window. The full width is what removes PixelCNN's blind spot."""
    r = kernel_size // 2
    last = 0 if include_current_row else -1
    return tuple((di, dj) for di in range(-r, last + 1) for dj in range(-r, r + 1))


def horizontal_taps(kernel_size: int, include_center: bool) -> Taps:
    """Gated PixelCNN horizontal stack / Row LSTM input-to-state: the current
    row, columns to the left (and the centre for mask B)."""
    r = kernel_size // 2
    last = 0 if include_center else -1
    return tuple((0, dj) for dj in range(-r, last + 1))


def row_taps(kernel_size: int, row: int = 0) -> Taps:
    """Every column of the window on one row (`row` = -1: the row above)."""
    r = kernel_size // 2
    return tuple((row, dj) for dj in range(-r, r + 1))


def taps_radius(taps: Taps) -> int:
    return max(max(abs(di), abs(dj)) for di, dj in taps)


def taps_mask(taps: Taps, kernel_size: int) -> np.ndarray:
    """The equivalent 0/1 mask of a k x k kernel, [k, k] (for references and plots)."""
    r = kernel_size // 2
    mask = np.zeros((kernel_size, kernel_size), np.float32)
    for di, dj in taps:
        mask[r + di, r + dj] = 1.0
    return mask


def shift(x, di: int, dj: int):
    """out[:, i, j] = x[:, i + di, j + dj], zero outside the image. [B, H, W, C]"""
    b, h, w, c = x.shape
    padded = jnp.pad(x, ((0, 0), (max(-di, 0), max(di, 0)), (max(-dj, 0), max(dj, 0)), (0, 0)))
    return jax.lax.slice(padded, (0, max(di, 0), max(dj, 0), 0),
                         (b, max(di, 0) + h, max(dj, 0) + w, c))


def gather_taps(x, taps: Taps, stride: int = 1):
    """[B, H, W, C] -> [B, ceil(H/s), ceil(W/s), T*C]: the input at
    (s m + di, s n + dj) for every tap, zero outside the image; tap-major,
    channels minor (the kernel's layout). One zero pad serves all taps, which
    keeps the graph small: networks with many tap convolutions compile faster."""
    _, h, w, _ = x.shape
    top, bottom = max(0, -min(di for di, _ in taps)), max(0, max(di for di, _ in taps))
    left, right = max(0, -min(dj for _, dj in taps)), max(0, max(dj for _, dj in taps))
    padded = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    return jnp.concatenate([padded[:, top + di:top + di + h:stride, left + dj:left + dj + w:stride]
                            for di, dj in taps], axis=-1)


def pad_buffer(x, pad: int):
    """A sampler buffer: x zero-padded by `pad` on all four sides."""
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


class TapConv(nn.Module):
    """A convolution over an explicit tap set (see the module docstring).

    kernel [T, in_features, features], so the initialiser's fan-in is T * C_in,
    the number of inputs the layer really has.
    """

    features: int
    in_features: int
    taps: Taps
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    stride: int = 1  # evaluate at every stride-th pixel: out[m, n] = conv at (s m, s n)

    def setup(self):
        self.kernel = self.param("kernel", self.kernel_init,
                                 (len(self.taps), self.in_features, self.features))
        if self.use_bias:
            self.bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))

    def _matmul(self, gathered):
        """[..., T*C_in] @ kernel -> [..., features] as one 2-D GEMM."""
        weight = self.kernel.reshape(-1, self.features).astype(gathered.dtype)
        lead = gathered.shape[:-1]
        y = (gathered.reshape(-1, gathered.shape[-1]) @ weight).reshape(lead + (self.features,))
        return y + self.bias if self.use_bias else y

    def __call__(self, x):
        """Whole image: [B, H, W, C_in] -> [B, ceil(H/s), ceil(W/s), features]."""
        return self._matmul(gather_taps(x, self.taps, self.stride))

    def at_pixel(self, buffer, i, j, pad: int):
        """Output at pixel (i, j) only, [B, features], from a buffer padded by
        `pad` >= the taps' radius (`pad_buffer`); i, j may be traced."""
        r = taps_radius(self.taps)
        b, _, _, c = buffer.shape
        window = jax.lax.dynamic_slice(buffer, (0, i + pad - r, j + pad - r, 0),
                                       (b, 2 * r + 1, 2 * r + 1, c))
        pieces = [window[:, r + di, r + dj, :] for di, dj in self.taps]  # T x [B, C]
        return self._matmul(jnp.concatenate(pieces, axis=-1))

    def at_row(self, buffer, i, pad: int):
        """Outputs along row i, [B, W, features], from a buffer padded by `pad`."""
        r = taps_radius(self.taps)
        b, _, wp, c = buffer.shape
        width = wp - 2 * pad
        window = jax.lax.dynamic_slice(buffer, (0, i + pad - r, 0, 0), (b, 2 * r + 1, wp, c))
        pieces = [window[:, r + di, pad + dj:pad + dj + width, :] for di, dj in self.taps]
        return self._matmul(jnp.concatenate(pieces, axis=-1))


def write_pixel(buffer, values, i, j, pad: int):
    """buffer[:, i, j] = values ([B, C]) in a buffer padded by `pad`."""
    return jax.lax.dynamic_update_slice(buffer, values[:, None, None, :].astype(buffer.dtype),
                                        (0, i + pad, j + pad, 0))


def write_row(buffer, values, i, pad: int):
    """buffer[:, i, :] = values ([B, W, C]) in a buffer padded by `pad`."""
    return jax.lax.dynamic_update_slice(buffer, values[:, None, :, :].astype(buffer.dtype),
                                        (0, i + pad, pad, 0))
