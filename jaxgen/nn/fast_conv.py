"""'SAME' convolutions whose forward and both gradients are plain GEMMs.

Why (measured on the 2-core CPU, see the VAE train-step benchmark): XLA's CPU
convolution weight gradients are slow, and an im2col / col2im formulation left
to autodiff is slower still. Autodiff transposes "slice tap t out of the
[..., k, k, C] patch tensor" into "pad tap t back to the full [..., k, k, C]
size with zeros", so the backward pass materialises k*k zero-padded copies of
the whole patch tensor (k*k times its size) and adds them up. Here the
backward pass is written by hand (`jax.custom_vjp`) so that each big tensor is
written exactly once:

- gather-GEMM (`_conv_gather`): y = patches(x) @ W. Backward: dW = P^T g
  (one GEMM contracting over pixels), dx = col2im(g @ W^T), where col2im is a
  single fused sum of k*k interior-padded (strided) placements of x's size.
- GEMM-scatter (`_conv_scatter`): y = col2im(x @ W). Backward: dG = patches(g),
  dW = x^T dG, dx = dG @ W^T. This serves stride-1 convolutions with few
  output channels, where multiplying first keeps the k*k-wide tensor small.
- transposed convolution (`_conv_transpose`): XLA's own forward and input
  gradient (both are plain convolutions, fast on CPU) and, in place of XLA's
  slow weight gradient, dW = x^T patches(g), one GEMM. Measured per layer in
  benchmarks/vae_decoder_layers.py: 2x faster than the GEMM-scatter form it
  replaced, whose col2im and patch copies were memory-bound.

`patches(z; k, s, lo, out)[m, t] = z[s*m + t - lo]` (zero outside z), per
spatial axis; `col2im` is its exact adjoint. The modules `Conv` and
`ConvTranspose` take exactly the parameters of `nn.Conv` / `nn.ConvTranspose`
(kernel [k, k, C_in, C_out], bias [C_out]) and compute the same function with
padding='SAME' (tests/test_nn_fast_conv.py).
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxgen.nn.conv_params import SameConvParams
from jaxgen.nn.upsample import _same_padding_before


def same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """'SAME' padding of `nn.Conv` (TensorFlow/XLA): output = ceil(size / stride)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


# ----------------------------------------------------------------- patches / col2im


def patches(z, k: int, s: int, lo: int, out_h: int, out_w: int):
    """[B, H, W, C] -> [B, out_h, out_w, k*k*C], taps (i, j) major, channels minor:
    result[b, m, n, (i, j, c)] = z[b, s*m + i - lo, s*n + j - lo, c], zero outside."""
    b, h, w, c = z.shape
    hi_h = max(s * (out_h - 1) + k - lo - h, 0)
    hi_w = max(s * (out_w - 1) + k - lo - w, 0)
    zp = jnp.pad(z, ((0, 0), (lo, hi_h), (lo, hi_w), (0, 0)))
    views = [lax.slice(zp, (0, i, j, 0), (b, i + s * (out_h - 1) + 1, j + s * (out_w - 1) + 1, c),
                       (1, s, s, 1))
             for i in range(k) for j in range(k)]
    return jnp.concatenate(views, axis=-1)


def col2im(p, k: int, s: int, lo: int, h: int, w: int):
    """Adjoint of `patches`: [B, out_h, out_w, k*k*C] -> [B, h, w, C]."""
    b, out_h, out_w, kkc = p.shape
    c = kkc // (k * k)
    p = p.reshape(b, out_h, out_w, k * k, c)
    zero = jnp.zeros((), p.dtype)
    total = None
    for i in range(k):
        for j in range(k):
            # Element m lands at s*m + i - lo: pad low by i - lo, interior s - 1,
            # high so the length is h (negative pads crop).
            placed = lax.pad(p[:, :, :, i * k + j, :], zero, (
                (0, 0, 0),
                (i - lo, h - (i - lo) - s * (out_h - 1) - 1, s - 1),
                (j - lo, w - (j - lo) - s * (out_w - 1) - 1, s - 1),
                (0, 0, 0)))
            total = placed if total is None else total + placed
    return total


def _mm(a, w):
    """[..., K] @ [K, N] over all leading dims as one 2-D GEMM."""
    lead = a.shape[:-1]
    return (a.reshape(-1, a.shape[-1]) @ w).reshape(lead + (w.shape[-1],))


def _mm_t(a, g):
    """sum over pixels of a^T g: [..., K], [..., N] -> [K, N] (one GEMM)."""
    a2 = a.reshape(-1, a.shape[-1])
    g2 = g.reshape(-1, g.shape[-1])
    return lax.dot_general(a2, g2, (((0,), (0,)), ((), ())))


# ----------------------------------------------------------------- gather-GEMM


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_gather(x, w, k, s, lo):
    """y[m] = sum_t x[s*m + t - lo] w[t]; w [k*k*C_in, C_out], out = ceil(size/s)."""
    out_h, out_w = -(-x.shape[1] // s), -(-x.shape[2] // s)
    return _mm(patches(x, k, s, lo, out_h, out_w), w)


def _conv_gather_fwd(x, w, k, s, lo):
    out_h, out_w = -(-x.shape[1] // s), -(-x.shape[2] // s)
    p = patches(x, k, s, lo, out_h, out_w)
    return _mm(p, w), (p, w, x.shape[1], x.shape[2])


def _conv_gather_bwd(k, s, lo, res, g):
    p, w, h, wd = res
    dw = _mm_t(p, g)
    dx = col2im(_mm(g, w.T), k, s, lo, h, wd)
    return dx, dw


_conv_gather.defvjp(_conv_gather_fwd, _conv_gather_bwd)


# ----------------------------------------------------------------- GEMM-scatter


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_scatter(x, w, k, s, lo):
    """y = col2im(x @ w; k, s, lo) on an output s times x's size; w [C_in, k*k*C_out]."""
    return col2im(_mm(x, w), k, s, lo, s * x.shape[1], s * x.shape[2])


def _conv_scatter_fwd(x, w, k, s, lo):
    return _conv_scatter(x, w, k, s, lo), (x, w)


def _conv_scatter_bwd(k, s, lo, res, g):
    # Both gradients reuse one patch matrix of g: dW = x^T P(g), dx = P(g) W^T.
    # (Tried and measured equal within noise: k*k per-tap GEMMs for dW, and
    # XLA's forward convolution of g for dx.)
    x, w = res
    h, wd = x.shape[1], x.shape[2]
    dp = patches(g, k, s, lo, h, wd)
    return _mm(dp, w.T), _mm_t(x, dp)


_conv_scatter.defvjp(_conv_scatter_fwd, _conv_scatter_bwd)


# ----------------------------------------------------------------- modules


def conv_same(x, kernel, stride: int = 1, bias=None, method: str = "auto"):
    """`nn.Conv(..., padding='SAME')` on NHWC x with an HWIO kernel [k, k, C_in, C_out].

    method 'gather' (im2col, then GEMM) works for any stride; 'scatter' (GEMM,
    then col2im) only for stride 1; 'auto' scatters when stride is 1 and
    C_out < C_in (the k*k-wide intermediate is then the smaller one).
    """
    k, _, c_in, c_out = kernel.shape
    if kernel.shape[0] != kernel.shape[1]:
        raise ValueError("square kernels only")
    if method == "auto":
        method = "scatter" if stride == 1 and c_out < c_in else "gather"
    top = same_padding(x.shape[1], k, stride)[0]
    if same_padding(x.shape[2], k, stride)[0] != top:
        raise ValueError("the 'SAME' padding must be equal on both spatial axes")
    kernel = kernel.astype(x.dtype)
    if method == "gather":
        y = _conv_gather(x, kernel.reshape(k * k * c_in, c_out), k, stride, top)
    elif method == "scatter":
        if stride != 1:
            raise ValueError("method 'scatter' needs stride 1")
        # o = m + top - t; with flipped taps t' = k-1-t: o = m + t' - (k-1-top).
        w = jnp.transpose(kernel[::-1, ::-1], (2, 0, 1, 3)).reshape(c_in, k * k * c_out)
        y = _conv_scatter(x, w, k, 1, k - 1 - top)
    else:
        raise ValueError(f"unknown method {method!r}")
    return y if bias is None else y + bias.astype(x.dtype)


# ----------------------------------------------------------------- transposed conv

_NHWC = ("NHWC", "HWIO", "NHWC")


def _native_conv_transpose(x, kernel, stride: int):
    return lax.conv_transpose(x, kernel, (stride, stride), "SAME", dimension_numbers=_NHWC)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv_transpose(x, kernel, stride):
    """`nn.ConvTranspose` 'SAME': XLA's own forward and input gradient (both plain
    convolutions, fast on CPU), only the weight gradient replaced by one GEMM."""
    return _native_conv_transpose(x, kernel, stride)


def _conv_transpose_fwd(x, kernel, stride):
    return _native_conv_transpose(x, kernel, stride), (x, kernel)


def _conv_transpose_bwd(stride, res, g):
    x, kernel = res
    k, _, c_in, c_out = kernel.shape
    _, input_vjp = jax.vjp(lambda x_: _native_conv_transpose(x_, kernel, stride), x)
    (dx,) = input_vjp(g)
    # lax.conv_transpose places input m at output s*m + pb - t for tap t; with
    # flipped taps t' = k-1-t that is s*m + t' - (k-1-pb): the gather pattern of
    # `patches`. dW' = x^T patches(g) in flipped-tap layout [C_in, (i, j, C_out)].
    lo = k - 1 - _same_padding_before(k, stride)
    dp = patches(g, k, stride, lo, x.shape[1], x.shape[2])     # [B, H, W, k*k*C_out]
    dw = _mm_t(x, dp).reshape(c_in, k, k, c_out)
    return dx, jnp.transpose(dw, (1, 2, 0, 3))[::-1, ::-1]     # [k, k, C_in, C_out]


_conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def conv_transpose_same(x, kernel, stride: int = 2, bias=None):
    """`nn.ConvTranspose(..., padding='SAME')` (transpose_kernel=False) on NHWC x."""
    if kernel.shape[0] != kernel.shape[1]:
        raise ValueError("square kernels only")
    y = _conv_transpose(x, kernel.astype(x.dtype), stride)
    return y if bias is None else y + bias.astype(x.dtype)


class Conv(SameConvParams):
    """`nn.Conv(features, (k, k), strides=(s, s), padding='SAME')`, GEMM passes."""

    method: str = "auto"

    @nn.compact
    def __call__(self, x):
        kernel, bias = self.kernel_and_bias(x.shape[-1])
        return conv_same(self.compute_input(x), kernel, self.stride, bias, self.method)


class ConvTranspose(SameConvParams):
    """`nn.ConvTranspose(features, (k, k), strides=(s, s), padding='SAME')`, GEMM passes."""

    stride: int = 2

    @nn.compact
    def __call__(self, x):
        kernel, bias = self.kernel_and_bias(x.shape[-1])
        return conv_transpose_same(self.compute_input(x), kernel, self.stride, bias)


# ----------------------------------------------------------------- choosing one

CONV_CHOICES = ("fast", "flax")  # config key `conv` of the families that offer both


def conv3x3(features: int, impl: str, stride: int = 1, name=None, zero_init: bool = False,
            dtype=None):
    """A 3x3 'SAME' convolution: jaxgen's GEMM form (`impl="fast"`) or flax's
    nn.Conv (`"flax"`), the same function with the same parameters; `dtype`
    the compute dtype (jaxgen.nn.precision)."""
    init = nn.initializers.zeros_init() if zero_init else nn.initializers.lecun_normal()
    if impl == "fast":
        return Conv(features, 3, stride, kernel_init=init, name=name, dtype=dtype)
    if impl == "flax":
        return nn.Conv(features, (3, 3), strides=(stride, stride), padding="SAME",
                       kernel_init=init, name=name, dtype=dtype)
    raise ValueError(f"unknown conv {impl!r}; choose from {CONV_CHOICES}")
