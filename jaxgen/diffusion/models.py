"""Denoising networks: a small U-Net for images and a residual MLP for vectors.

Both take (x_t, t, labels) and return a tensor shaped like x_t (the eps, x0
or v prediction). The level t enters through a sinusoidal embedding and an
MLP; a class label (index K = "no label", used for classifier-free guidance)
adds a learned embedding to it.

U-Net (Ho et al. 2020, scaled down): conv in -> per level `num_res_blocks`
residual blocks (GroupNorm, swish, 3x3 conv, time embedding added between the
two convs) and a stride-2 conv down -> middle: res block, optional
self-attention, res block -> per level, in reverse, residual blocks on the
concatenated skip connections and nearest-neighbour x2 + 3x3 conv up ->
GroupNorm, swish, 3x3 conv out. Any H x W x C: each level but the last halves
the sides, so H and W must be divisible by 2 ** (len(channel_mults) - 1)
(28 -> 14 -> 7 or 32 -> 16 -> 8 with channel_mults (1, 2, 2); the family
checks this); the output has the input's C channels.

Convolutions: `conv="fast"` uses jaxgen.nn.fast_conv (GEMM forward and
hand-written GEMM gradients, fast on CPU), `"flax"` nn.Conv; the same
function and parameters. Upsampling is nearest-neighbour + conv, never
nn.ConvTranspose (slow weight gradient on CPU, DESIGN.md).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgen.nn.fast_conv import conv3x3


def timestep_embedding(t, dim: int, max_period: float = 10_000.0):
    """Sinusoidal embedding of integer levels t [B] -> [B, dim] (dim even)."""
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
    angles = t.astype(jnp.float32)[:, None] * freqs[None, :]
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


class Conditioning(nn.Module):
    """Embedding of the level t and, for a conditional model, the label. [B, dim]"""

    dim: int
    base_dim: int
    num_classes: int = 0  # 0: unconditional; else labels in 0..K, K meaning "none"
    dtype: Any = None  # compute dtype (jaxgen.nn.precision), in every module here

    @nn.compact
    def __call__(self, t, labels=None):
        emb = timestep_embedding(t, self.base_dim)  # float32: the angles need its precision
        # One expression, as before: flax names the outer Dense first (Dense_0).
        emb = nn.Dense(self.dim, dtype=self.dtype)(
            nn.swish(nn.Dense(self.dim, dtype=self.dtype)(emb)))
        if self.num_classes:
            emb = emb + nn.Embed(self.num_classes + 1, self.dim, name="label_embed",
                                 dtype=self.dtype)(labels)
        return emb


def group_norm(channels: int, dtype=None) -> nn.GroupNorm:
    # Flax computes the group statistics in float32 whatever `dtype` is.
    return nn.GroupNorm(num_groups=min(8, channels), dtype=dtype)


class ResBlock(nn.Module):
    features: int
    conv: str = "fast"
    dtype: Any = None

    @nn.compact
    def __call__(self, x, emb):  # x [B, H, W, C_in], emb [B, E] -> [B, H, W, features]
        dt = self.dtype
        h = conv3x3(self.features, self.conv, dtype=dt)(nn.swish(group_norm(x.shape[-1], dt)(x)))
        h = h + nn.Dense(self.features, dtype=dt)(nn.swish(emb))[:, None, None, :]
        # The second conv starts at zero, so each block starts as the identity.
        h = conv3x3(self.features, self.conv, zero_init=True, dtype=dt)(
            nn.swish(group_norm(self.features, dt)(h)))
        if x.shape[-1] != self.features:
            x = nn.Dense(self.features, name="skip", dtype=dt)(x)  # a 1x1 conv
        return x + h


class SelfAttention(nn.Module):
    """Single-head self-attention over the H*W positions, residual."""

    dtype: Any = None

    @nn.compact
    def __call__(self, x):  # [B, H, W, C]
        b, hgt, wid, c = x.shape
        h = group_norm(c, self.dtype)(x).reshape(b, hgt * wid, c)
        q, k, v = jnp.split(nn.Dense(3 * c, dtype=self.dtype)(h), 3, axis=-1)
        # The softmax in float32 (a no-op in a float32 model): its exponentials
        # and normalising sum are where bfloat16 would lose the most.
        logits = jnp.einsum("bqc,bkc->bqk", q, k).astype(jnp.float32) / math.sqrt(c)
        weights = nn.softmax(logits, axis=-1).astype(v.dtype)
        out = jnp.einsum("bqk,bkc->bqc", weights, v)
        out = nn.Dense(c, kernel_init=nn.initializers.zeros_init(), dtype=self.dtype)(out)
        return x + out.reshape(b, hgt, wid, c)


def upsample_nearest(x):
    """[B, H, W, C] -> [B, 2H, 2W, C] (its gradient is a cheap 2x2 sum)."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class UNet(nn.Module):
    channels: int = 32
    channel_mults: Sequence[int] = (1, 2, 2)
    num_res_blocks: int = 1
    attention: bool = True      # self-attention in the middle (lowest resolution)
    num_classes: int = 0
    conv: str = "fast"
    dtype: Any = None  # compute dtype; parameters stay float32

    @nn.compact
    def __call__(self, x, t, labels=None, extra_emb=None):  # x [B, H, W, C], t [B] -> [B, H, W, C]
        dt = self.dtype
        emb = Conditioning(4 * self.channels, self.channels, self.num_classes, dt)(t, labels)
        if extra_emb is not None:  # [B, 4 * channels], e.g. the diffusion GAN's latent z
            emb = emb + extra_emb
        h = conv3x3(self.channels, self.conv, dtype=dt)(x)
        skips = [h]
        last = len(self.channel_mults) - 1
        for level, mult in enumerate(self.channel_mults):
            for _ in range(self.num_res_blocks):
                h = ResBlock(self.channels * mult, self.conv, dt)(h, emb)
                skips.append(h)
            if level != last:
                h = conv3x3(h.shape[-1], self.conv, stride=2, dtype=dt)(h)  # downsample
                skips.append(h)
        h = ResBlock(h.shape[-1], self.conv, dt)(h, emb)
        if self.attention:
            h = SelfAttention(dt)(h)
        h = ResBlock(h.shape[-1], self.conv, dt)(h, emb)
        for level in reversed(range(len(self.channel_mults))):
            for _ in range(self.num_res_blocks + 1):
                h = ResBlock(self.channels * self.channel_mults[level], self.conv, dt)(
                    jnp.concatenate([h, skips.pop()], axis=-1), emb)
            if level != 0:
                h = conv3x3(h.shape[-1], self.conv, dtype=dt)(upsample_nearest(h))
        h = nn.swish(group_norm(h.shape[-1], dt)(h))
        return conv3x3(x.shape[-1], self.conv, zero_init=True, name="out", dtype=dt)(h)


class MLPDenoiser(nn.Module):
    """Residual MLP for vectors [B, D] (VAE latents, 2-D points)."""

    width: int = 256
    num_blocks: int = 3
    num_classes: int = 0
    dtype: Any = None

    @nn.compact
    def __call__(self, x, t, labels=None):  # x [B, D], t [B] -> [B, D]
        dt, zeros = self.dtype, nn.initializers.zeros_init()
        emb = Conditioning(self.width, 64, self.num_classes, dt)(t, labels)
        h = nn.Dense(self.width, dtype=dt)(x)
        for _ in range(self.num_blocks):
            r = (nn.Dense(self.width, dtype=dt)(nn.swish(nn.LayerNorm(dtype=dt)(h)))
                 + nn.Dense(self.width, dtype=dt)(emb))
            h = h + nn.Dense(self.width, kernel_init=zeros, dtype=dt)(nn.swish(r))
        return nn.Dense(x.shape[-1], kernel_init=zeros, dtype=dt)(
            nn.swish(nn.LayerNorm(dtype=dt)(h)))
