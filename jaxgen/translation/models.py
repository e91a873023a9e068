"""The translators' networks: a U-Net generator and a PatchGAN discriminator.

U-Net (Ronneberger et al. 2015; pix2pix's generator): images in [-1, 1],
zero-padded to a multiple of 2 ** len(g_channels) (28 -> 32 for three
halvings) and cropped back at the end.

    down i:  conv 4x4 stride 2 -> instance norm (not on the first) -> LeakyReLU 0.2
    up i:    transposed conv 4x4 stride 2 -> instance norm -> dropout (the
             innermost `g_dropout_layers` ups, pix2pix's noise source) -> ReLU,
             then concatenated with the skip of the same resolution
    out:     transposed conv 4x4 stride 2 to the output channels -> tanh

With g_channels (32, 64, 128) on 32x32: 32 -> 16 -> 8 -> 4 -> 8 -> 16 -> 32.

PatchGAN (Isola et al. 2017, Sec. 3.2.2): `d_layers` stride-2 4x4 convs,
then a stride-1 4x4 conv and a stride-1 4x4 conv to one logit per patch.
Receptive field (receptive_field): 1 layer 16 px, 2 layers 34 px, 3 layers
70 px (the paper's default, the whole image at 28-32 px). `d_output="image"`
replaces the last conv by a dense layer over the whole map: one logit per
image (the paper's ImageGAN). Instance norm (d_norm) couples every position
through its statistics, so the receptive field of the patch net proper is
that of the convolutions alone (tested with d_norm="none").
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgen.nn import precision
from jaxgen.nn.fast_conv import Conv, ConvTranspose
from jaxgen.nn.padding import crop_to, pad_to, padded_shape

NORMS = ("instance", "none")
D_OUTPUTS = ("patch", "image")
KERNEL = 4


def normalise(kind: str, h, dtype=None):
    # Flax computes the statistics in float32 whatever `dtype` (the output's) is.
    return (nn.InstanceNorm(use_scale=True, use_bias=True, dtype=dtype)(h)
            if kind == "instance" else h)


class UNet(nn.Module):
    out_channels: int
    channels: Sequence[int] = (32, 64, 128)
    dropout_layers: int = 2
    dropout_rate: float = 0.5
    norm: str = "instance"
    dtype: Any = None  # compute dtype (jaxgen.nn.precision); the output is float32

    @nn.compact
    def __call__(self, x, dropout: bool = False):  # x: [B, H, W, C_in] in [-1, 1]
        image_hw = x.shape[1:3]
        h = pad_to(x, padded_shape(*image_hw, 2 ** len(self.channels)))  # [B, H', W', C_in]
        skips = []
        for i, width in enumerate(self.channels):  # H' -> H' / 2 ** len(channels)
            h = Conv(width, KERNEL, stride=2, dtype=self.dtype)(h)
            h = nn.leaky_relu(normalise(self.norm, h, self.dtype) if i else h, 0.2)
            skips.append(h)
        ups = list(reversed(range(len(self.channels) - 1)))
        for n, i in enumerate(ups):  # back up to H' / 2, joining the skip of each size
            h = normalise(self.norm, ConvTranspose(self.channels[i], KERNEL, stride=2,
                                                   dtype=self.dtype)(h), self.dtype)
            if n < self.dropout_layers:
                h = nn.Dropout(self.dropout_rate, deterministic=not dropout)(h)
            h = jnp.concatenate([nn.relu(h), skips[i]], axis=-1)
        # [B, H', W', C_out]
        h = ConvTranspose(self.out_channels, KERNEL, stride=2, dtype=self.dtype)(h)
        return precision.to_float32(jnp.tanh(crop_to(h, image_hw)))  # [B, H, W, C_out]


class PatchGAN(nn.Module):
    channels: int = 64
    layers: int = 2
    output: str = "patch"
    norm: str = "instance"
    dtype: Any = None  # compute dtype (jaxgen.nn.precision); the logits are float32

    @nn.compact
    def __call__(self, x):  # [B, H, W, C] in [-1, 1]
        h = x
        for i in range(self.layers):
            h = Conv(self.channels * 2 ** i, KERNEL, stride=2, dtype=self.dtype)(h)
            h = nn.leaky_relu(normalise(self.norm, h, self.dtype) if i else h, 0.2)
        h = Conv(self.channels * 2 ** self.layers, KERNEL, stride=1, dtype=self.dtype)(h)
        h = nn.leaky_relu(normalise(self.norm, h, self.dtype), 0.2)
        if self.output == "image":
            logits = nn.Dense(1, dtype=self.dtype)(h.reshape(h.shape[0], -1))  # [B, 1]
        else:
            logits = Conv(1, KERNEL, stride=1, dtype=self.dtype)(h)  # [B, h, w, 1]: one per patch
        return precision.to_float32(logits)


def receptive_field(layers: int, kernel: int = KERNEL) -> int:
    """Side in pixels of the input patch one PatchGAN logit sees: back through
    the two stride-1 convs and the `layers` stride-2 ones, r <- (r - 1) s + k."""
    r = 1
    for stride in [1, 1] + [2] * layers:
        r = (r - 1) * stride + kernel
    return r


def make_generator(config, out_channels: int) -> UNet:
    return UNet(out_channels=out_channels, channels=tuple(config.g_channels),
                dropout_layers=config.g_dropout_layers, dropout_rate=config.g_dropout,
                norm=config.g_norm, dtype=precision.layer_dtype(config))


def make_discriminator(config) -> PatchGAN:
    return PatchGAN(channels=config.d_channels, layers=config.d_layers,
                    output=config.d_output, norm=config.d_norm,
                    dtype=precision.layer_dtype(config))


def to_signed(pixels):
    """uint8 [B, H, W, C] -> float32 in [-1, 1]."""
    return pixels.astype(jnp.float32) / 127.5 - 1.0


def to_unit(x):
    """[-1, 1] -> [0, 1], clipped."""
    return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)
