"""Invertible layers (bijectors) of RealNVP and Glow, as Flax Linen modules.

Every layer maps NHWC arrays [B, H, W, C] and is called as

    y, log_det = layer(x, inverse=False)     # y = f(x),      log_det = log|det df/dx|
    x, log_det = layer(y, inverse=True)      # x = f^-1(y),   log_det = log|det df^-1/dy|

with `log_det` per example [B]; forward and inverse log-determinants at
corresponding points sum to zero. One `__call__` with an `inverse` flag (rather
than two methods) means both directions use the same parameters without any
extra plumbing. 2-D points are treated as images [B, 1, 1, 2], so the same
layers serve the toy flows (the conditioner is then a stack of Dense layers,
i.e. 1x1 convolutions).
"""
from __future__ import annotations


import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.nn.fast_conv import conv3x3


def sum_per_example(x):
    """[B, ...] -> [B]"""
    return jnp.sum(x.reshape(x.shape[0], -1), axis=1)


def affine(x, log_scale, shift, inverse: bool):
    """y = x * exp(log_scale) + shift (or its inverse) and the per-example log-det."""
    if inverse:
        return (x - shift) * jnp.exp(-log_scale), -sum_per_example(log_scale)
    return x * jnp.exp(log_scale) + shift, sum_per_example(log_scale)


# ------------------------------------------------------------------- conditioners


class ConvConditioner(nn.Module):
    """x [B, H, W, C] -> (log_scale, shift) [B, H, W, out_channels] each.

    A small residual conv net. The last layer starts at zero, so every
    coupling starts as the identity (a stable start for deep flows, as in Glow).
    The log-scale is `scale * tanh(raw)` with a learned per-channel `scale`
    (RealNVP): bounded, so one update cannot blow up exp(log_scale).
    `conv` (fast_conv.conv3x3): "flax" (nn.Conv, forward-mode differentiable,
    so jax.jacfwd works) or "fast" (jaxgen's GEMM form, reverse-mode only),
    the same function and parameters. For these 3x3 convolutions with 32-64
    channels flax's are the faster on the 2-core CPU (benchmarks/README.md),
    so they are the default.
    """

    hidden: int
    num_blocks: int
    out_channels: int
    conv: str = "flax"

    @nn.compact
    def __call__(self, x):
        h = nn.relu(conv3x3(self.hidden, self.conv)(x))  # [B, H, W, hidden]
        for _ in range(self.num_blocks):
            r = nn.relu(conv3x3(self.hidden, self.conv)(h))
            h = nn.relu(h + conv3x3(self.hidden, self.conv)(r))
        out = conv3x3(2 * self.out_channels, self.conv, zero_init=True)(h)
        return _split_scale_shift(self, out)


class DenseConditioner(nn.Module):
    """x [B, 1, 1, C] (2-D points as 1x1 images) -> (log_scale, shift) with an MLP."""

    hidden: int
    num_blocks: int
    out_channels: int

    @nn.compact
    def __call__(self, x):
        h = x
        for _ in range(self.num_blocks + 1):
            h = nn.relu(nn.Dense(self.hidden)(h))
        out = nn.Dense(2 * self.out_channels, kernel_init=nn.initializers.zeros)(h)
        return _split_scale_shift(self, out)


def _split_scale_shift(module: nn.Module, out):
    """Net output [..., 2K] -> (log_scale = scale * tanh(raw), shift), [..., K] each."""
    raw, shift = jnp.split(out, 2, axis=-1)
    scale = module.param("tanh_scale", nn.initializers.ones, (raw.shape[-1],))
    return scale * jnp.tanh(raw), shift


CONDITIONERS = ("conv", "dense")


def make_conditioner(kind: str, hidden: int, num_blocks: int, out_channels: int,
                     conv: str = "flax") -> nn.Module:
    """"conv": residual conv net with `conv` convolutions; "dense": an MLP."""
    size = dict(hidden=hidden, num_blocks=num_blocks, out_channels=out_channels)
    if kind == "dense":
        return DenseConditioner(**size)
    if kind == "conv":
        return ConvConditioner(conv=conv, **size)
    raise ValueError(f"conditioner must be one of {CONDITIONERS}, got {kind!r}")


# ----------------------------------------------------------------------- couplings


def checkerboard_mask(height: int, width: int, parity: int) -> np.ndarray:
    """[H, W, 1] with 1 where (row + column + parity) is even: the pixels that stay fixed."""
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return ((rows + cols + parity) % 2 == 0).astype(np.float32)[..., None]


class CheckerboardCoupling(nn.Module):
    """RealNVP affine coupling with a spatial checkerboard mask: the pixels under
    the mask pass unchanged and condition an affine map of the others."""

    parity: int
    conditioner: str = "conv"
    hidden: int = 64
    num_blocks: int = 2
    conv: str = "flax"  # the conv conditioner's convolutions (fast_conv.conv3x3)

    @nn.compact
    def __call__(self, x, inverse: bool = False, context=None):
        """`context` [B, H, W, C'] (optional) is seen by the conditioner beside the
        fixed pixels: a conditional coupling, still invertible in x for that context."""
        _, h, w, c = x.shape
        mask = jnp.asarray(checkerboard_mask(h, w, self.parity))  # [H, W, 1]
        inputs = x * mask if context is None else jnp.concatenate([x * mask, context], -1)
        log_scale, shift = make_conditioner(self.conditioner, self.hidden, self.num_blocks,
                                            c, self.conv)(inputs)
        # Zeroed on the fixed pixels: there the map is the identity, log-det 0.
        return affine(x, log_scale * (1 - mask), shift * (1 - mask), inverse)


class ChannelCoupling(nn.Module):
    """Affine coupling across channels: one half conditions an affine map of the
    other; `parity` 1 swaps the roles (RealNVP alternates, Glow's 1x1 convolutions
    mix the channels instead)."""

    parity: int = 0
    conditioner: str = "conv"
    hidden: int = 64
    num_blocks: int = 2
    conv: str = "flax"  # the conv conditioner's convolutions (fast_conv.conv3x3)

    @nn.compact
    def __call__(self, x, inverse: bool = False):
        c = x.shape[-1]
        if c < 2:
            raise ValueError(f"a channel coupling needs >= 2 channels, got {c}")
        half = c // 2
        fixed, moved = (x[..., :half], x[..., half:]) if self.parity == 0 \
            else (x[..., c - half:], x[..., :c - half])
        log_scale, shift = make_conditioner(self.conditioner, self.hidden, self.num_blocks,
                                            moved.shape[-1], self.conv)(fixed)
        moved, log_det = affine(moved, log_scale, shift, inverse)
        parts = (fixed, moved) if self.parity == 0 else (moved, fixed)
        return jnp.concatenate(parts, axis=-1), log_det


# ------------------------------------------------------------- reshapes, actnorm, 1x1


class Squeeze(nn.Module):
    """[B, H, W, C] -> [B, H/2, W/2, 4C]: each 2x2 block of pixels becomes 4C
    channels (a permutation, log-det 0)."""

    @nn.compact
    def __call__(self, x, inverse: bool = False):
        b, h, w, c = x.shape
        zero = jnp.zeros((b,), x.dtype)
        if inverse:  # [B, H, W, 4C'] -> [B, 2H, 2W, C']
            x = x.reshape(b, h, w, 2, 2, c // 4).transpose(0, 1, 3, 2, 4, 5)
            return x.reshape(b, 2 * h, 2 * w, c // 4), zero
        if h % 2 or w % 2:
            raise ValueError(f"squeeze needs even height and width, got {h}x{w}")
        x = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
        return x.reshape(b, h // 2, w // 2, 4 * c), zero


class ActNorm(nn.Module):
    """Per-channel affine y = (x + bias) * exp(log_scale) (Glow).

    Data-dependent initialisation: the parameter initialisers read the batch
    this layer sees during `model.init`, so after init its outputs on that batch
    have zero mean and unit variance per channel. This happens inside the pure
    `init(config, key, sample_batch)`: no mutable "initialised" flag.
    """

    eps: float = 1e-6

    @nn.compact
    def __call__(self, x, inverse: bool = False):
        axes = tuple(range(x.ndim - 1))
        bias = self.param("bias", lambda _: -jnp.mean(x, axis=axes))
        log_scale = self.param(
            "log_scale", lambda _: -0.5 * jnp.log(jnp.var(x, axis=axes) + self.eps))
        pixels = np.prod(x.shape[1:-1])
        log_det = pixels * jnp.sum(log_scale) * jnp.ones((x.shape[0],), x.dtype)
        if inverse:
            return x * jnp.exp(-log_scale) - bias, -log_det
        return (x + bias) * jnp.exp(log_scale), log_det


def random_rotation(key, n: int):
    """A random orthogonal n x n matrix (QR of a Gaussian, signs fixed so it is Haar)."""
    q, r = jnp.linalg.qr(jax.random.normal(key, (n, n)))
    return q * jnp.sign(jnp.diag(r))[None, :]


class InvertibleConv1x1(nn.Module):
    """Glow's invertible 1x1 convolution in LU form: W = P L (U + diag(sign * exp(log_s))).

    P (a permutation) and `sign` are fixed at their initial values and live in
    the "constants" collection, not in the parameters, so the optimizer never
    touches them; L is unit lower triangular and U strictly upper triangular.
    log|det W| = sum(log_s), so the layer's log-det costs O(C) instead of O(C^3).
    Initialised at a random rotation, as in Glow.
    """

    @nn.compact
    def __call__(self, x, inverse: bool = False):
        c = x.shape[-1]
        # Flax checks a stored parameter's shape against its initialiser even
        # in `apply`, so outside init the initialisers get zeros of the right
        # shapes (never used, and dropped by XLA).
        init = self._initial_lu(c) if self.is_initializing() else _zero_lu(c)
        perm = self.variable("constants", "permutation", lambda: init["p"]).value
        sign = self.variable("constants", "sign", lambda: init["sign"]).value
        lower = self.param("lower", lambda _: init["lower"])
        upper = self.param("upper", lambda _: init["upper"])
        log_s = self.param("log_s", lambda _: init["log_s"])
        w = lu_weight(perm, lower, upper, sign, log_s)  # [C, C], y_pixel = W x_pixel
        pixels = np.prod(x.shape[1:-1])
        log_det = pixels * jnp.sum(log_s) * jnp.ones((x.shape[0],), x.dtype)
        if inverse:
            return x @ jnp.linalg.inv(w).T, -log_det
        return x @ w.T, log_det

    def _initial_lu(self, c: int) -> dict:
        p, l, u = jax.scipy.linalg.lu(random_rotation(self.make_rng("params"), c))
        diag = jnp.diag(u)
        return {"p": p, "sign": jnp.sign(diag), "lower": jnp.tril(l, -1),
                "upper": jnp.triu(u, 1), "log_s": jnp.log(jnp.abs(diag))}


def _zero_lu(c: int) -> dict:
    zeros = jnp.zeros((c, c))
    return {"p": zeros, "sign": zeros[0], "lower": zeros, "upper": zeros, "log_s": zeros[0]}


def lu_weight(perm, lower, upper, sign, log_s):
    """P (strict_lower + I) (strict_upper + diag(sign * exp(log_s))). [C, C]"""
    c = perm.shape[0]
    l = jnp.tril(lower, -1) + jnp.eye(c)
    u = jnp.triu(upper, 1) + jnp.diag(sign * jnp.exp(log_s))
    return perm @ l @ u
