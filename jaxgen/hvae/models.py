"""The hierarchical VAE's networks: a bottom-up encoder and a top-down decoder
whose path is shared by inference and generation (ladder VAE / NVAE / VDVAE,
small enough for a CPU).

Scales: the image (28x28) is halved `len(groups_per_scale)` times with
ceiling division (28 -> 14 -> 7 -> 4; 32 -> 16 -> 8 -> 4). `groups_per_scale`
lists the latent groups of each scale from the top (coarsest) down, so the
default (2, 2, 1) has two 4x4 groups, two 7x7 and one 14x14 group, each with
`latent_channels` channels. Group g, top-down:

    h                      the decoder state at the group's resolution
    prior head(h)       -> mu_p, raw log-variance, a feature added back to h
    posterior head(h, e)-> dmu, raw d log-variance   (e: the encoder's activation)
    z = mu_q + sigma_q eps   (inference)   |   mu_p + T sigma_p eps (generation, T = temperature)
    h <- ResCell(h + feature + project(z))

Inference and generation run the same prior heads, projections and cells;
only where z comes from differs. The posterior is relative to the prior
(NVAE): mu_q = mu_p + dmu, log var_q = log var_p + d log var (latents.py). The
last layer of every head and residual branch starts at zero: at
initialisation the prior is N(0, I), the posterior equals the prior (no KL)
and every cell is the identity, which is what keeps deep stacks of them
stable at the start.

The decoder's output is, per pixel and channel, a mixture of `num_mixtures`
discretized logistics: [B, H, W, C, 3M] = (logits, means, log-scales).
"""
from __future__ import annotations

from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.hvae import latents
from jaxgen.nn.fast_conv import conv3x3


def scale_sizes(height: int, width: int, num_scales: int) -> list:
    """[(H, W)] of the latent scales from the finest to the coarsest: halvings with
    ceiling division, (28, 28), 3 -> [(14, 14), (7, 7), (4, 4)]."""
    sizes, (h, w) = [], (height, width)
    for _ in range(num_scales):
        h, w = -(-h // 2), -(-w // 2)
        sizes.append((h, w))
    return sizes


def downsample(x):
    """2x2 average pooling; an odd side is zero-padded at the end first. [B, ceil(H/2), ...]"""
    h, w = x.shape[1:3]
    x = jnp.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
    b, hh, ww, c = x.shape
    return x.reshape(b, hh // 2, 2, ww // 2, 2, c).mean(axis=(2, 4))


def upsample_to(x, size):
    """Nearest-neighbour x2, cropped to `size` (4 -> 8 -> 7). [B, size..., C]"""
    x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
    return x[:, :size[0], :size[1]]


class ResCell(nn.Module):
    """x + conv(swish(conv(swish(x)))): the residual branch starts at zero."""

    channels: int
    conv: str = "fast"

    @nn.compact
    def __call__(self, x):
        h = conv3x3(self.channels, self.conv, name="conv1")(nn.swish(x))
        h = conv3x3(self.channels, self.conv, name="conv2", zero_init=True)(nn.swish(h))
        return x + h


class Head(nn.Module):
    """swish -> 3x3 conv -> swish -> 3x3 conv to `features`, the last one zero at init."""

    hidden: int
    features: int
    conv: str = "fast"

    @nn.compact
    def __call__(self, x):
        h = conv3x3(self.hidden, self.conv, name="conv1")(nn.swish(x))
        return conv3x3(self.features, self.conv, name="conv2", zero_init=True)(nn.swish(h))


class Encoder(nn.Module):
    """Bottom-up: pixels -> the activation of every scale, finest first."""

    channels: int
    num_scales: int
    blocks_per_scale: int = 1
    conv: str = "fast"

    @nn.compact
    def __call__(self, x):  # x: [B, H, W, C] in [-1, 1]
        h = conv3x3(self.channels, self.conv, name="stem")(x)
        acts = []
        for s in range(self.num_scales):
            h = downsample(h)
            for b in range(self.blocks_per_scale):
                h = ResCell(self.channels, self.conv, name=f"cell{s}_{b}")(h)
            acts.append(h)  # [B, H_s, W_s, channels]
        return acts


class Decoder(nn.Module):
    """Top-down: the latent groups, then the pixel distribution's parameters."""

    channels: int
    image_shape: Sequence[int]          # (H, W, C)
    groups_per_scale: Sequence[int]     # top (coarsest) scale first
    latent_channels: int
    num_mixtures: int
    output_blocks: int = 1
    logvar_clamp: float = 5.0
    conv: str = "fast"

    @nn.compact
    def __call__(self, key, num: int, enc_acts: Optional[list] = None,
                 temperature: float = 1.0, fixed: Sequence = ()):
        """enc_acts (finest first) given: inference, z from the posterior; None:
        generation, z from the prior at `temperature`, except the first
        len(fixed) groups, whose z are `fixed`.

        Returns (out [B, H, W, C, 3M], per group a dict of z, mu_p, logvar_p
        and, in inference, dmu, dlogvar).
        """
        height, width, channels = self.image_shape
        sizes = scale_sizes(height, width, len(self.groups_per_scale))[::-1]  # coarsest first
        top = self.param("top", nn.initializers.zeros, (1,) + sizes[0] + (self.channels,))
        h = jnp.broadcast_to(top, (num,) + top.shape[1:])
        lc, groups, g = self.latent_channels, [], 0
        for s, (size, count) in enumerate(zip(sizes, self.groups_per_scale)):
            if s:
                h = upsample_to(h, size)
            enc = None if enc_acts is None else enc_acts[len(sizes) - 1 - s]
            for _ in range(count):
                prior = Head(self.channels, 2 * lc + self.channels, self.conv,
                             name=f"prior{g}")(h)
                mu_p, raw_logvar_p, feature = jnp.split(prior, [lc, 2 * lc], axis=-1)
                logvar_p = latents.soft_clamp(raw_logvar_p, self.logvar_clamp)
                eps = jax.random.normal(jax.random.fold_in(key, g), mu_p.shape, mu_p.dtype)
                group = {"mu_p": mu_p, "logvar_p": logvar_p}
                if enc is not None:
                    post = Head(self.channels, 2 * lc, self.conv, name=f"posterior{g}")(
                        jnp.concatenate([h, enc], axis=-1))
                    dmu, raw_dlogvar = jnp.split(post, 2, axis=-1)
                    dlogvar = latents.soft_clamp(raw_dlogvar, self.logvar_clamp)
                    mu_q, logvar_q = latents.relative_posterior(mu_p, logvar_p, dmu, dlogvar)
                    z = mu_q + jnp.exp(0.5 * logvar_q) * eps
                    group.update(dmu=dmu, dlogvar=dlogvar)
                elif g < len(fixed):
                    z = fixed[g]
                else:
                    z = mu_p + temperature * jnp.exp(0.5 * logvar_p) * eps
                group["z"] = z  # [B, H_s, W_s, latent_channels]
                groups.append(group)
                h = h + feature + nn.Dense(self.channels, name=f"project{g}")(z)
                h = ResCell(self.channels, self.conv, name=f"cell{g}")(h)
                g += 1
        h = upsample_to(h, (height, width))
        for b in range(self.output_blocks):
            h = ResCell(self.channels, self.conv, name=f"out_cell{b}")(h)
        out = conv3x3(channels * 3 * self.num_mixtures, self.conv, name="out")(nn.swish(h))
        return out.reshape(num, height, width, channels, 3 * self.num_mixtures), groups


class HVAE(nn.Module):
    channels: int
    image_shape: Sequence[int]
    groups_per_scale: Sequence[int]
    latent_channels: int
    num_mixtures: int
    blocks_per_scale: int = 1
    output_blocks: int = 1
    logvar_clamp: float = 5.0
    conv: str = "fast"

    def setup(self):
        self.encoder = Encoder(self.channels, len(self.groups_per_scale), self.blocks_per_scale,
                               self.conv)
        self.decoder = Decoder(self.channels, tuple(self.image_shape),
                               tuple(self.groups_per_scale), self.latent_channels,
                               self.num_mixtures, self.output_blocks, self.logvar_clamp,
                               self.conv)

    def __call__(self, pixels, key):
        """Inference: uint8 pixels [B, H, W, C] -> (out, groups) along the posterior path."""
        x = pixels.astype(jnp.float32) / 127.5 - 1.0
        return self.decoder(key, pixels.shape[0], self.encoder(x))

    def generate(self, key, num: int, temperature: float = 1.0, fixed: Sequence = ()):
        """Generation: (out, groups) with z from the prior (the first groups `fixed`)."""
        return self.decoder(key, num, None, temperature, fixed)


def make_model(config, image_shape) -> HVAE:
    return HVAE(channels=config.width, image_shape=tuple(image_shape),
                groups_per_scale=tuple(config.groups_per_scale),
                latent_channels=config.latent_channels, num_mixtures=config.num_mixtures,
                blocks_per_scale=config.blocks_per_scale, output_blocks=config.output_blocks,
                logvar_clamp=config.logvar_clamp, conv=config.conv)


def num_groups(config) -> int:
    return int(sum(config.groups_per_scale))


def group_dims(config, image_shape) -> list:
    """Latent dimensions of each group, top-down. [G]"""
    sizes = scale_sizes(image_shape[0], image_shape[1], len(config.groups_per_scale))[::-1]
    return [h * w * config.latent_channels
            for (h, w), count in zip(sizes, config.groups_per_scale) for _ in range(count)]


def group_names(config, image_shape) -> list:
    """'4x4 #1' etc., top-down."""
    sizes = scale_sizes(image_shape[0], image_shape[1], len(config.groups_per_scale))[::-1]
    return [f"{h}x{w} #{i + 1}" for (h, w), count in zip(sizes, config.groups_per_scale)
            for i in range(count)]
