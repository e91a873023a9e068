"""Convolutional encoder and decoder, and the functions that run them from a config.

The reference architecture of the course's autoencoder (sizes for Fashion-MNIST,
whose 28x28 images are zero-padded to 32x32):
  encoder: Conv 32/64/128, 3x3, stride 2, ReLU -> flatten -> Dense(latent)
  decoder: Dense(4*4*128) -> three stride-2 upsampling layers 128/64/32 with
           ReLU -> 3x3 conv to the output channels (the sigmoid is in the loss).
Images of any size and channel count are padded to the next multiple of
2**depth (depth: the number of stride-2 layers), so 32x32 RGB stays 32x32 and
the decoder starts at (padded size / 2**depth).
A VAE's encoder has two heads, mean and log-variance. A conditional model
feeds the one-hot class to both networks: as constant extra image channels
into the encoder, concatenated to z into the decoder.
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen import data
from jaxgen.nn import fast_conv, precision
from jaxgen.nn.padding import pad_to, padded_shape
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
    dtype: Any = None  # compute dtype (jaxgen.nn.precision); parameters stay float32

    @nn.compact
    def __call__(self, x, onehot=None):  # x: [B, H', W', C]; onehot: [B, K] or None
        if onehot is not None:
            planes = jnp.broadcast_to(onehot[:, None, None, :], x.shape[:3] + onehot.shape[-1:])
            x = jnp.concatenate([x, planes], axis=-1)
        for features in self.channels:
            x = nn.relu(nn.Conv(features, (3, 3), strides=(2, 2), padding="SAME",
                                dtype=self.dtype)(x))
        x = x.reshape(x.shape[0], -1)  # [B, H'/8 * W'/8 * 128] for three layers
        if not self.variational:
            return nn.Dense(self.latent_dim, name="z", dtype=self.dtype)(x)
        mean = nn.Dense(self.latent_dim, name="mean", dtype=self.dtype)(x)
        log_var = nn.Dense(self.latent_dim, name="log_var", dtype=self.dtype)(x)
        return mean, log_var


class Decoder(nn.Module):
    channels: Sequence[int] = (128, 64, 32)
    out_channels: int = 1
    start_shape: Sequence[int] = (4, 4)  # (H, W) before the first upsampling
    upsample: str = "fast"  # one of UPSAMPLE_CHOICES
    dtype: Any = None

    @nn.compact
    def __call__(self, z, onehot=None):  # z: [B, D] -> [B, H * 2**n, W * 2**n, out_channels]
        if onehot is not None:
            z = jnp.concatenate([z, onehot], axis=-1)
        h, w = self.start_shape
        x = nn.Dense(h * w * self.channels[0], dtype=self.dtype)(z)
        x = x.reshape(z.shape[0], h, w, self.channels[0])
        for i, features in enumerate(self.channels):
            x = nn.relu(self._upsampling(features, f"up{i}")(x))
        if self.upsample == "fast":
            return fast_conv.Conv(self.out_channels, 3, 1, name="out", dtype=self.dtype)(x)
        return nn.Conv(self.out_channels, (3, 3), padding="SAME", name="out", dtype=self.dtype)(x)

    def _upsampling(self, features: int, name: str) -> nn.Module:
        """A stride-2 3x3 'SAME' transposed convolution, in the chosen form."""
        if self.upsample == "fast":
            return fast_conv.ConvTranspose(features, 3, 2, name=name, dtype=self.dtype)
        if self.upsample == "subpixel":
            return ConvTransposeSubpixel(features, kernel_size=3, stride=2, name=name,
                                         dtype=self.dtype)
        if self.upsample == "transpose":
            return nn.ConvTranspose(features, (3, 3), strides=(2, 2), padding="SAME", name=name,
                                    dtype=self.dtype)
        raise ValueError(f"unknown upsample {self.upsample!r}; choose from {UPSAMPLE_CHOICES}")


class AutoEncoder(nn.Module):
    """Encoder + decoder; `variational` selects the VAE's two-headed encoder."""

    latent_dim: int
    enc_channels: Sequence[int] = (32, 64, 128)
    dec_channels: Sequence[int] = (128, 64, 32)
    out_channels: int = 1
    variational: bool = True
    upsample: str = "fast"
    start_shape: Sequence[int] = (4, 4)  # the decoder's first feature map (H, W)
    dtype: Any = None  # compute dtype of both networks (jaxgen.nn.precision)

    def setup(self):
        self.encoder = Encoder(self.latent_dim, self.enc_channels, self.variational,
                               dtype=self.dtype)
        self.decoder = Decoder(self.dec_channels, self.out_channels, self.start_shape,
                               upsample=self.upsample, dtype=self.dtype)

    def encode(self, x, onehot=None):
        return self.encoder(x, onehot)

    def decode(self, z, onehot=None):
        return self.decoder(z, onehot)

    def __call__(self, x, onehot=None):
        """Used only by `init`: touches both networks."""
        code = self.encode(x, onehot)
        z = code[0] if self.variational else code
        return self.decode(z, onehot)


# ------------------------------------------------------------------ from a config


def is_variational(config) -> bool:
    return config.family == "vae"


def output_channels(likelihood: str, channels: int) -> int:
    """Decoder outputs per pixel: a Bernoulli logit per channel, or a discretized
    logistic's mean logit and log-scale per channel (means first, then scales)."""
    return {"bernoulli": 1, "logistic": 2}[likelihood] * channels


def network_depth(config) -> int:
    """Stride-2 layers on the longer path: image sides must be multiples of 2**depth."""
    return max(len(config.enc_channels), len(config.dec_channels))


def network_image_shape(config) -> tuple:
    """(H', W') the networks see: the dataset's images padded to multiples of 2**depth."""
    height, width, _ = data.image_shape(config)
    return padded_shape(height, width, 2 ** network_depth(config))


def make_model(config) -> AutoEncoder:
    height, width = network_image_shape(config)
    scale = 2 ** len(config.dec_channels)
    return AutoEncoder(latent_dim=config.latent_dim, enc_channels=tuple(config.enc_channels),
                       dec_channels=tuple(config.dec_channels),
                       out_channels=output_channels(config.likelihood,
                                                    data.image_shape(config)[-1]),
                       variational=is_variational(config), upsample=config.upsample,
                       start_shape=(height // scale, width // scale),
                       dtype=precision.layer_dtype(config))


def class_onehot(config, labels):
    """One-hot labels [B, K] for a conditional model, None otherwise."""
    if not config.conditional:
        return None
    return jax.nn.one_hot(labels, data.num_classes(config))


def network_input(config, pixels):
    """uint8 images [B, H, W, C] -> float32 [B, H', W', C] in [0, 1], zero-padded."""
    x = pixels.astype(jnp.float32) / 255.0
    return pad_to(x, network_image_shape(config))


def encode(config, params, pixels, labels=None):
    """uint8 images [B, H, W, C] -> (mean, log_var) [B, D] each for a VAE, z [B, D]
    for an autoencoder, float32 whatever the compute dtype. `labels` [B] are
    read only by a conditional model."""
    return precision.to_float32(make_model(config).apply(
        params, network_input(config, pixels), class_onehot(config, labels), method="encode"))


def decode(config, params, z, labels=None):
    """Latents [B, D] -> the decoder's padded output [B, H', W', out] (logits or
    distribution parameters; losses.py reads them), float32 whatever the
    compute dtype."""
    return precision.to_float32(
        make_model(config).apply(params, z, class_onehot(config, labels), method="decode"))
