"""VQ-VAE encoder and decoder (Flax Linen), 32x32 inputs -> an 8x8 grid of codes.

Images are zero-padded from 28x28 to 32x32 as in the VAE (jaxgen.vae.losses),
so the reconstruction likelihood and its cropping are the VAE's own.

    encoder: conv 3x3 /2 (c0) -> ReLU -> conv 3x3 /2 (c1) -> ReLU -> conv 3x3 (c1)
             -> residual blocks -> ReLU -> 1x1 conv to the code dimension D
             [B, 32, 32, 1] -> z_e [B, 8, 8, D]
    decoder: conv 3x3 (c1) -> residual blocks -> ReLU -> transposed conv 3x3 x2 (c0)
             -> ReLU -> transposed conv 3x3 x2 (c0) -> ReLU -> conv 3x3 to the
             output channels (mean logit and log-scale of a discretized logistic)
             [B, 8, 8, D] -> [B, 32, 32, 2]

Residual block (as in the paper): x + conv1x1(ReLU(conv3x3(ReLU(x)))). Every
k x k convolution is jaxgen.nn.fast_conv's, the same function as flax's with
CPU-fast gradients (DESIGN.md, "Performance facts"); no nn.ConvTranspose.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn

from jaxgen.nn import fast_conv


class ResidualBlock(nn.Module):
    hidden: int

    @nn.compact
    def __call__(self, x):  # [B, H, W, C] -> [B, H, W, C]
        h = fast_conv.Conv(self.hidden, 3, 1)(nn.relu(x))
        return x + nn.Dense(x.shape[-1])(nn.relu(h))


class VQEncoder(nn.Module):
    channels: Sequence[int] = (32, 64)
    num_res_blocks: int = 2
    code_dim: int = 16

    @nn.compact
    def __call__(self, x):  # x: [B, 32, 32, 1] in [0, 1]
        x = x * 2.0 - 1.0  # centred input
        x = nn.relu(fast_conv.Conv(self.channels[0], 3, 2)(x))   # [B, 16, 16, c0]
        x = nn.relu(fast_conv.Conv(self.channels[1], 3, 2)(x))   # [B, 8, 8, c1]
        x = fast_conv.Conv(self.channels[1], 3, 1)(x)
        for _ in range(self.num_res_blocks):
            x = ResidualBlock(self.channels[1] // 2)(x)
        return nn.Dense(self.code_dim)(nn.relu(x))              # z_e [B, 8, 8, D]


class VQDecoder(nn.Module):
    channels: Sequence[int] = (32, 64)
    num_res_blocks: int = 2
    out_channels: int = 2

    @nn.compact
    def __call__(self, z_q):  # [B, 8, 8, D]
        x = fast_conv.Conv(self.channels[1], 3, 1)(z_q)
        for _ in range(self.num_res_blocks):
            x = ResidualBlock(self.channels[1] // 2)(x)
        x = nn.relu(fast_conv.ConvTranspose(self.channels[0], 3, 2)(nn.relu(x)))  # [B, 16, 16, c0]
        x = nn.relu(fast_conv.ConvTranspose(self.channels[0], 3, 2)(x))           # [B, 32, 32, c0]
        return fast_conv.Conv(self.out_channels, 3, 1, name="out")(x)            # [B, 32, 32, 2]


class VQAutoEncoder(nn.Module):
    """Encoder and decoder; the quantizer between them is quantizer.py (pure)."""

    channels: Sequence[int] = (32, 64)
    num_res_blocks: int = 2
    code_dim: int = 16
    out_channels: int = 2

    def setup(self):
        self.encoder = VQEncoder(self.channels, self.num_res_blocks, self.code_dim)
        self.decoder = VQDecoder(self.channels, self.num_res_blocks, self.out_channels)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z_q):
        return self.decoder(z_q)

    def __call__(self, x):
        """Used only by `init`: touches both networks."""
        return self.decode(self.encode(x))


CODE_GRID = (8, 8)  # 32 / 2 / 2
