"""Networks of the denoising diffusion GAN: a generator of x0 from (x_t, t, z)
and a time-conditioned discriminator of (x_{t-1}, x_t, t).

Generator: the diffusion package's U-Net (jaxgen/diffusion/models.py) with the
latent z injected where the level t is: a small mapping MLP turns z into a
vector added to the U-Net's time embedding, so every residual block gets a
z-dependent bias (the paper injects z by adaptive group norm; an additive
conditioning is the same idea with a shift and no scale). A tanh keeps the
predicted x0 in the data range [-1, 1]. The U-Net's output conv starts at
zero, so the untrained generator predicts x0 = 0.

Discriminator: x_{t-1} and x_t concatenated on channels, 3x3 convs with
stride 2 and LeakyReLU(0.2), the level t entering every block as a learned
bias from the diffusion package's time embedding, then one linear logit. No
normalisation layer, so each example's output depends on that example alone
(R1 takes per-example input gradients).
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgen.diffusion.models import Conditioning, UNet
from jaxgen.nn import precision
from jaxgen.nn.fast_conv import conv3x3


class Generator(nn.Module):
    channels: int = 32
    channel_mults: Sequence[int] = (1, 2, 2)
    num_res_blocks: int = 1
    attention: bool = False
    mapping_layers: int = 2
    conv: str = "flax"
    # Compute dtype (jaxgen.nn.precision) of both networks here; each returns
    # float32, so the posterior step, the losses and R1 read float32.
    dtype: Any = None

    @nn.compact
    def __call__(self, x_t, t, z):  # x_t [B, H, W, C], t [B], z [B, Z] -> x0 [B, H, W, C]
        emb_dim = 4 * self.channels  # the U-Net's embedding width
        w = z
        for _ in range(self.mapping_layers):
            w = nn.swish(nn.Dense(emb_dim, dtype=self.dtype)(w))
        style = nn.Dense(emb_dim, name="z_to_emb", dtype=self.dtype)(w)  # [B, 4 * channels]
        out = UNet(channels=self.channels, channel_mults=tuple(self.channel_mults),
                   num_res_blocks=self.num_res_blocks, attention=self.attention,
                   conv=self.conv, dtype=self.dtype, name="unet")(x_t, t, extra_emb=style)
        return precision.to_float32(jnp.tanh(out))


class Discriminator(nn.Module):
    channels: Sequence[int] = (32, 64, 128)
    conv: str = "flax"
    dtype: Any = None

    @nn.compact
    def __call__(self, x_prev, x_t, t):  # [B, H, W, C] twice, t [B] -> logits [B]
        dt = self.dtype
        emb = Conditioning(4 * self.channels[0], self.channels[0], dtype=dt,
                           name="time")(t)  # [B, E]
        h = conv3x3(self.channels[0], self.conv, dtype=dt)(
            jnp.concatenate([x_prev, x_t], axis=-1))
        for features in self.channels:
            h = conv3x3(features, self.conv, stride=2, dtype=dt)(nn.leaky_relu(h, 0.2))
            h = h + nn.Dense(features, dtype=dt)(emb)[:, None, None, :]
            h = conv3x3(features, self.conv, dtype=dt)(nn.leaky_relu(h, 0.2))
        h = nn.leaky_relu(h, 0.2).reshape(h.shape[0], -1)
        return precision.to_float32(nn.Dense(1, name="logit", dtype=dt)(h)[:, 0])
