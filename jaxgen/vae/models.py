"""Convolutional encoder and decoder for 32x32 images (Fashion-MNIST padded by 2).

The reference architecture of the course's autoencoder:
  encoder: Conv 32/64/128, 3x3, stride 2, ReLU -> flatten -> Dense(latent)
  decoder: Dense(4*4*128) -> three stride-2 upsampling layers 128/64/32 with
           ReLU -> 3x3 conv to the output channels (the sigmoid is in the loss).
A VAE's encoder has two heads, mean and log-variance. A conditional model
feeds the one-hot class to both networks: as constant extra image channels
into the encoder, concatenated to z into the decoder.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgen.nn import fast_conv
from jaxgen.nn.upsample import ConvTransposeSubpixel

# Decoder layer implementations: the same function with the same parameters
# (tests/test_upsample.py), different speed on CPU (benchmarks/results):
#   "fast":      GEMM forms with hand-written gradients (jaxgen.nn.fast_conv),
#                for the three upsampling layers and the output conv;
#   "subpixel":  upsampling as conv + depth-to-space, flax output conv;
#   "transpose": flax nn.ConvTranspose and nn.Conv, the reference.
UPSAMPLE_CHOICES = ("fast", "subpixel", "transpose")


class Encoder(nn.Module):
    latent_dim: int
    channels: Sequence[int] = (32, 64, 128)
    variational: bool = True

    @nn.compact
    def __call__(self, x, onehot=None):  # x: [B, 32, 32, C]; onehot: [B, K] or None
        if onehot is not None:
            planes = jnp.broadcast_to(onehot[:, None, None, :], x.shape[:3] + onehot.shape[-1:])
            x = jnp.concatenate([x, planes], axis=-1)
        for features in self.channels:
            x = nn.relu(nn.Conv(features, (3, 3), strides=(2, 2), padding="SAME")(x))
        x = x.reshape(x.shape[0], -1)  # [B, 4*4*128]
        if not self.variational:
            return nn.Dense(self.latent_dim, name="z")(x)
        mean = nn.Dense(self.latent_dim, name="mean")(x)
        log_var = nn.Dense(self.latent_dim, name="log_var")(x)
        return mean, log_var


class Decoder(nn.Module):
    channels: Sequence[int] = (128, 64, 32)
    out_channels: int = 1
    start_size: int = 4
    upsample: str = "fast"  # one of UPSAMPLE_CHOICES

    @nn.compact
    def __call__(self, z, onehot=None):  # z: [B, D] -> logits [B, 32, 32, out_channels]
        if onehot is not None:
            z = jnp.concatenate([z, onehot], axis=-1)
        s = self.start_size
        x = nn.Dense(s * s * self.channels[0])(z).reshape(z.shape[0], s, s, self.channels[0])
        for i, features in enumerate(self.channels):
            x = nn.relu(self._upsampling(features, f"up{i}")(x))
        if self.upsample == "fast":
            return fast_conv.Conv(self.out_channels, 3, 1, name="out")(x)
        return nn.Conv(self.out_channels, (3, 3), padding="SAME", name="out")(x)

    def _upsampling(self, features: int, name: str) -> nn.Module:
        """A stride-2 3x3 'SAME' transposed convolution, in the chosen form."""
        if self.upsample == "fast":
            return fast_conv.ConvTranspose(features, 3, 2, name=name)
        if self.upsample == "subpixel":
            return ConvTransposeSubpixel(features, kernel_size=3, stride=2, name=name)
        if self.upsample == "transpose":
            return nn.ConvTranspose(features, (3, 3), strides=(2, 2), padding="SAME", name=name)
        raise ValueError(f"unknown upsample {self.upsample!r}; choose from {UPSAMPLE_CHOICES}")


class AutoEncoder(nn.Module):
    """Encoder + decoder; `variational` selects the VAE's two-headed encoder."""

    latent_dim: int
    enc_channels: Sequence[int] = (32, 64, 128)
    dec_channels: Sequence[int] = (128, 64, 32)
    out_channels: int = 1
    variational: bool = True
    upsample: str = "fast"

    def setup(self):
        self.encoder = Encoder(self.latent_dim, self.enc_channels, self.variational)
        self.decoder = Decoder(self.dec_channels, self.out_channels, upsample=self.upsample)

    def encode(self, x, onehot=None):
        return self.encoder(x, onehot)

    def decode(self, z, onehot=None):
        return self.decoder(z, onehot)

    def __call__(self, x, onehot=None):
        """Used only by `init`: touches both networks."""
        code = self.encode(x, onehot)
        z = code[0] if self.variational else code
        return self.decode(z, onehot)
