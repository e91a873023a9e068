"""StyleGAN2-style networks (Flax Linen): mapping, synthesis, residual discriminator.

- Mapping: z [B, latent] -> pixel-normalised -> `mapping_depth` Dense + LeakyReLU(0.2)
  -> w [B, w_dim].
- Synthesis: a learned constant [4, 4, C0]; at each resolution 4, 8, 16, ...
  (bilinear 2x upsampling between them) one (4x4) or two style layers, each a
  modulated + demodulated 3x3 conv (jaxgen.nn.modulated), per-pixel noise times a
  learned per-channel scale (zero at init), a bias and LeakyReLU; then a
  modulated, not demodulated, 1x1 conv to the image channels (linear output).
  Every layer reads its own w from ws [B, L, w_dim] (style mixing and the
  style-mixing grid put different w's in different layers).
- Discriminator: 1x1 conv from pixels, one residual block per halving (two 3x3
  convs and a 2x average pool, a 1x1 skip, the sum divided by sqrt 2), then at
  4x4 a 3x3 conv, Dense, Dense(1). No normalisation and no minibatch statistic,
  so the R1 gradient of each example is its own.

Images are synthesised at the smallest 4 * 2^n side covering the dataset's
(Fashion-MNIST 28 -> 32, as the other strided families pad); `network_side`
says which. Real images are padded to it with the background value -1 and
generated ones are cropped to the dataset's size and padded the same way, so
the discriminator sees the same border on both.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.nn import fast_conv
from jaxgen.nn.modulated import ModulatedConv
from jaxgen.nn.padding import crop_to, pad_to

LEAK = 0.2
START_SIDE = 4  # the learned constant input is 4x4


def leaky(x):
    return nn.leaky_relu(x, LEAK)


def num_resolutions(height: int, width: int) -> int:
    """4, 8, ..., up to the first 4 * 2^n >= max(H, W): n + 1 (28 or 32 -> 4)."""
    side = max(height, width)
    return 1 + max(0, math.ceil(math.log2(side / START_SIDE)))


def network_side(height: int, width: int) -> int:
    """The side the generator synthesises and the discriminator reads (28 -> 32)."""
    return START_SIDE * 2 ** (num_resolutions(height, width) - 1)


def num_style_layers(num_res: int) -> int:
    """w's read by the synthesis: 1 conv at 4x4, 2 per later resolution, 1 to-image."""
    return 1 + 2 * (num_res - 1) + 1


class MappingNetwork(nn.Module):
    w_dim: int = 64
    depth: int = 4

    @nn.compact
    def __call__(self, z):  # z [B, latent] -> w [B, w_dim]
        x = z * jax.lax.rsqrt(jnp.mean(z ** 2, axis=-1, keepdims=True) + 1e-8)
        for _ in range(self.depth):
            x = leaky(nn.Dense(self.w_dim)(x))
        return x


class StyleLayer(nn.Module):
    """Modulated conv -> + noise * per-channel scale -> + bias -> LeakyReLU."""

    features: int
    conv: str = "fast"

    @nn.compact
    def __call__(self, x, w, noise: Optional[jax.Array]):
        y = ModulatedConv(self.features, 3, impl=self.conv, name="conv")(x, w)  # [B, H, W, C]
        if noise is not None:  # [B, H, W, 1]
            scale = self.param("noise_scale", nn.initializers.zeros, (self.features,))
            y = y + noise * scale
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return leaky(y + bias)


def upsample2(x):
    b, h, w, c = x.shape
    return jax.image.resize(x, (b, 2 * h, 2 * w, c), "bilinear")


def layer_noise(noise_key, layer: int, shape) -> Optional[jax.Array]:
    """The noise of style layer `layer`: N(0, 1) [B, H, W, 1] from its own fold
    of the key; None (no noise) when noise_key is None."""
    if noise_key is None:
        return None
    return jax.random.normal(jax.random.fold_in(noise_key, layer), shape)


class Synthesis(nn.Module):
    """ws [B, L, w_dim] -> images [B, S, S, C] (S = 4 * 2^(len(channels) - 1))."""

    channels: Sequence[int] = (128, 64, 64, 32)  # at 4x4, 8x8, 16x16, 32x32
    out_channels: int = 1
    conv: str = "fast"  # fast_conv.CONV_CHOICES

    @nn.compact
    def __call__(self, ws, noise_key=None):
        b = ws.shape[0]
        const = self.param("const", nn.initializers.normal(1.0),
                           (START_SIDE, START_SIDE, self.channels[0]))
        x = jnp.broadcast_to(const, (b,) + const.shape)  # [B, 4, 4, C0]
        layer = 0
        for r, width in enumerate(self.channels):
            if r > 0:
                x = upsample2(x)  # [B, 2H, 2W, C]
            for _ in range(1 if r == 0 else 2):
                noise = layer_noise(noise_key, layer, x.shape[:3] + (1,))
                x = StyleLayer(width, self.conv, name=f"layer{layer}")(x, ws[:, layer], noise)
                layer += 1
        rgb = ModulatedConv(self.out_channels, 1, demodulate=False, impl=self.conv,
                            name="to_image")(
            x, ws[:, layer])
        bias = self.param("to_image_bias", nn.initializers.zeros, (self.out_channels,))
        return rgb + bias  # [B, S, S, C], linear; the data live in [-1, 1]


class ResidualDiscriminator(nn.Module):
    """images [N, S, S, C] -> logits [N]; channels[i] at side S / 2^i, the last at 4x4."""

    channels: Sequence[int] = (32, 64, 64, 128)
    conv: str = "fast"  # fast_conv.CONV_CHOICES

    @nn.compact
    def __call__(self, x):
        h = leaky(nn.Dense(self.channels[0], name="from_image")(x))  # a 1x1 conv
        for width in self.channels[1:]:
            skip = nn.Dense(width, use_bias=False)(avg_pool2(h))  # 1x1
            h = leaky(fast_conv.conv3x3(h.shape[-1], self.conv)(h))
            h = avg_pool2(leaky(fast_conv.conv3x3(width, self.conv)(h)))
            h = (h + skip) * (1.0 / math.sqrt(2.0))  # [N, S / 2^i, S / 2^i, width]
        h = leaky(fast_conv.conv3x3(self.channels[-1], self.conv)(h))  # [N, 4, 4, C]
        h = leaky(nn.Dense(self.channels[-1])(h.reshape(h.shape[0], -1)))
        return nn.Dense(1)(h)[:, 0]


def avg_pool2(x):
    return nn.avg_pool(x, (2, 2), strides=(2, 2))


# --------------------------------------------------------------------------- pixels


def to_network_images(x, side: int):
    """Images in [-1, 1] [B, H, W, C] -> [B, side, side, C], padded with -1 (black)."""
    return pad_to(x + 1.0, (side, side)) - 1.0


def from_network_images(x, image_hw):
    """The dataset-sized centre [B, H, W, C] of synthesised [B, S, S, C]."""
    return crop_to(x, image_hw)
