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
from typing import Sequence

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

    @nn.compact
    def __call__(self, t, labels=None):
        emb = timestep_embedding(t, self.base_dim)
        emb = nn.Dense(self.dim)(nn.swish(nn.Dense(self.dim)(emb)))
        if self.num_classes:
            emb = emb + nn.Embed(self.num_classes + 1, self.dim, name="label_embed")(labels)
        return emb


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=min(8, channels))


class ResBlock(nn.Module):
    features: int
    conv: str = "fast"

    @nn.compact
    def __call__(self, x, emb):  # x [B, H, W, C_in], emb [B, E] -> [B, H, W, features]
        h = conv3x3(self.features, self.conv)(nn.swish(group_norm(x.shape[-1])(x)))
        h = h + nn.Dense(self.features)(nn.swish(emb))[:, None, None, :]
        # The second conv starts at zero, so each block starts as the identity.
        h = conv3x3(self.features, self.conv, zero_init=True)(nn.swish(group_norm(self.features)(h)))
        if x.shape[-1] != self.features:
            x = nn.Dense(self.features, name="skip")(x)  # a 1x1 conv
        return x + h


class SelfAttention(nn.Module):
    """Single-head self-attention over the H*W positions, residual."""

    @nn.compact
    def __call__(self, x):  # [B, H, W, C]
        b, hgt, wid, c = x.shape
        h = group_norm(c)(x).reshape(b, hgt * wid, c)
        q, k, v = jnp.split(nn.Dense(3 * c)(h), 3, axis=-1)
        weights = nn.softmax(jnp.einsum("bqc,bkc->bqk", q, k) / math.sqrt(c), axis=-1)
        out = jnp.einsum("bqk,bkc->bqc", weights, v)
        out = nn.Dense(c, kernel_init=nn.initializers.zeros_init())(out)
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

    @nn.compact
    def __call__(self, x, t, labels=None, extra_emb=None):  # x [B, H, W, C], t [B] -> [B, H, W, C]
        emb = Conditioning(4 * self.channels, self.channels, self.num_classes)(t, labels)
        if extra_emb is not None:  # [B, 4 * channels], e.g. the diffusion GAN's latent z
            emb = emb + extra_emb
        h = conv3x3(self.channels, self.conv)(x)
        skips = [h]
        last = len(self.channel_mults) - 1
        for level, mult in enumerate(self.channel_mults):
            for _ in range(self.num_res_blocks):
                h = ResBlock(self.channels * mult, self.conv)(h, emb)
                skips.append(h)
            if level != last:
                h = conv3x3(h.shape[-1], self.conv, stride=2)(h)  # downsample
                skips.append(h)
        h = ResBlock(h.shape[-1], self.conv)(h, emb)
        if self.attention:
            h = SelfAttention()(h)
        h = ResBlock(h.shape[-1], self.conv)(h, emb)
        for level in reversed(range(len(self.channel_mults))):
            for _ in range(self.num_res_blocks + 1):
                h = ResBlock(self.channels * self.channel_mults[level], self.conv)(
                    jnp.concatenate([h, skips.pop()], axis=-1), emb)
            if level != 0:
                h = conv3x3(h.shape[-1], self.conv)(upsample_nearest(h))
        h = nn.swish(group_norm(h.shape[-1])(h))
        return conv3x3(x.shape[-1], self.conv, zero_init=True, name="out")(h)


class MLPDenoiser(nn.Module):
    """Residual MLP for vectors [B, D] (VAE latents, 2-D points)."""

    width: int = 256
    num_blocks: int = 3
    num_classes: int = 0

    @nn.compact
    def __call__(self, x, t, labels=None):  # x [B, D], t [B] -> [B, D]
        emb = Conditioning(self.width, 64, self.num_classes)(t, labels)
        h = nn.Dense(self.width)(x)
        for _ in range(self.num_blocks):
            r = nn.Dense(self.width)(nn.swish(nn.LayerNorm()(h))) + nn.Dense(self.width)(emb)
            h = h + nn.Dense(self.width, kernel_init=nn.initializers.zeros_init())(nn.swish(r))
        return nn.Dense(x.shape[-1], kernel_init=nn.initializers.zeros_init())(
            nn.swish(nn.LayerNorm()(h)))
