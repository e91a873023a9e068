"""VQ-VAE encoder and decoder (Flax Linen), and the functions that run them
from a config: images [H, W, C] -> a grid of codes (H'/4, W'/4).

Images are zero-padded to sides that are multiples of PAD_MULTIPLE (28x28
Fashion-MNIST -> 32x32, an 8x8 code grid; 32x32 stays 32x32) and the
likelihood is read on the unpadded pixels only (losses.py).

    encoder: conv 3x3 /2 (c0) -> ReLU -> conv 3x3 /2 (c1) -> ReLU -> conv 3x3 (c1)
             -> residual blocks -> ReLU -> 1x1 conv to the code dimension D
             [B, H', W', C] -> z_e [B, H'/4, W'/4, D]
    decoder: conv 3x3 (c1) -> residual blocks -> ReLU -> transposed conv 3x3 x2 (c0)
             -> ReLU -> transposed conv 3x3 x2 (c0) -> ReLU -> conv 3x3 to the
             output channels (mean logit and log-scale of a discretized logistic
             per image channel)
             [B, H'/4, W'/4, D] -> [B, H', W', 2C]

Residual block (as in the paper): x + conv1x1(ReLU(conv3x3(ReLU(x)))). Every
k x k convolution is jaxgen.nn.fast_conv's, the same function as flax's with
CPU-fast gradients (DESIGN.md, "Performance facts"); no nn.ConvTranspose.
"""
from __future__ import annotations

import functools

from typing import Any, Sequence

import flax.linen as nn

from jaxgen import data
from jaxgen.autoregressive.models import ARCHITECTURES  # the prior is a PixelCNN
from jaxgen.nn import fast_conv, precision
from jaxgen.nn.padding import padded_shape

DOWNSAMPLING = 4  # two stride-2 convolutions: the code grid is the padded image / 4
# Sides are padded to multiples of 8, not just of 4: Fashion-MNIST keeps the
# 32x32 input and 8x8 code grid the model was designed with (28 -> 32).
PAD_MULTIPLE = 8


class ResidualBlock(nn.Module):
    hidden: int
    dtype: Any = None  # compute dtype (jaxgen.nn.precision), in every module here

    @nn.compact
    def __call__(self, x):  # [B, H, W, C] -> [B, H, W, C]
        h = fast_conv.Conv(self.hidden, 3, 1, dtype=self.dtype)(nn.relu(x))
        return x + nn.Dense(x.shape[-1], dtype=self.dtype)(nn.relu(h))


class VQEncoder(nn.Module):
    channels: Sequence[int] = (32, 64)
    num_res_blocks: int = 2
    code_dim: int = 16
    dtype: Any = None

    @nn.compact
    def __call__(self, x):  # x: [B, H', W', C] in [0, 1]
        conv = functools.partial(fast_conv.Conv, dtype=self.dtype)
        x = x * 2.0 - 1.0  # centred input
        x = nn.relu(conv(self.channels[0], 3, 2)(x))   # [B, H'/2, W'/2, c0]
        x = nn.relu(conv(self.channels[1], 3, 2)(x))   # [B, H'/4, W'/4, c1]
        x = conv(self.channels[1], 3, 1)(x)
        for _ in range(self.num_res_blocks):
            x = ResidualBlock(self.channels[1] // 2, dtype=self.dtype)(x)
        return nn.Dense(self.code_dim, dtype=self.dtype)(nn.relu(x))  # z_e [B, H'/4, W'/4, D]


class VQDecoder(nn.Module):
    channels: Sequence[int] = (32, 64)
    num_res_blocks: int = 2
    out_channels: int = 2
    dtype: Any = None

    @nn.compact
    def __call__(self, z_q):  # [B, h, w, D]
        up = functools.partial(fast_conv.ConvTranspose, dtype=self.dtype)
        x = fast_conv.Conv(self.channels[1], 3, 1, dtype=self.dtype)(z_q)
        for _ in range(self.num_res_blocks):
            x = ResidualBlock(self.channels[1] // 2, dtype=self.dtype)(x)
        x = nn.relu(up(self.channels[0], 3, 2)(nn.relu(x)))  # [B, 2h, 2w, c0]
        x = nn.relu(up(self.channels[0], 3, 2)(x))           # [B, 4h, 4w, c0]
        return fast_conv.Conv(self.out_channels, 3, 1, name="out",
                              dtype=self.dtype)(x)           # [B, 4h, 4w, 2C]


class VQAutoEncoder(nn.Module):
    """Encoder and decoder; the quantizer between them is quantizer.py (pure)."""

    channels: Sequence[int] = (32, 64)
    num_res_blocks: int = 2
    code_dim: int = 16
    out_channels: int = 2
    dtype: Any = None  # the networks' compute dtype; what encode and decode return is float32

    def setup(self):
        self.encoder = VQEncoder(self.channels, self.num_res_blocks, self.code_dim, self.dtype)
        self.decoder = VQDecoder(self.channels, self.num_res_blocks, self.out_channels,
                                 self.dtype)

    # float32 out, so the quantizer's distances and the likelihood never see bfloat16.
    def encode(self, x):
        return precision.to_float32(self.encoder(x))

    def decode(self, z_q):
        return precision.to_float32(self.decoder(z_q))

    def __call__(self, x):
        """Used only by `init`: touches both networks."""
        return self.decode(self.encode(x))


# ------------------------------------------------------------------ from a config


def network_image_shape(config) -> tuple:
    """(H', W'): the dataset's images padded to multiples of PAD_MULTIPLE."""
    height, width, _ = data.image_shape(config)
    return padded_shape(height, width, PAD_MULTIPLE)


def code_grid(config) -> tuple:
    """(h, w) of the code grid: (H' / 4, W' / 4); (8, 8) for Fashion-MNIST."""
    height, width = network_image_shape(config)
    return height // DOWNSAMPLING, width // DOWNSAMPLING


def make_autoencoder(config) -> VQAutoEncoder:
    channels = data.image_shape(config)[-1]
    return VQAutoEncoder(channels=tuple(config.hidden_channels),
                         num_res_blocks=config.num_res_blocks, code_dim=config.code_dim,
                         out_channels=2 * channels,  # a logistic's mean and scale per channel
                         dtype=precision.layer_dtype(config))


def make_prior(config):
    """The autoregressive network over K code categories (no class input)."""
    cls = ARCHITECTURES[config.prior_architecture]
    return cls(num_categories=config.num_codes, head="softmax", channels=config.prior_channels,
               num_layers=config.prior_layers, kernel_size=config.prior_kernel_size,
               first_kernel_size=config.prior_first_kernel_size,
               head_hidden=config.prior_head_hidden, input_embedding=config.prior_embedding,
               dropout_rate=config.prior_dropout)
