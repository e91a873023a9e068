"""The three networks of the VAE-GAN and the functions that run them from a config.

Encoder and decoder are the VAE family's convolutional modules
(jaxgen.vae.models.Encoder / Decoder: Conv 32/64/128 stride 2 -> mean and
log-variance heads; Dense -> three stride-2 upsamplings -> a 3x3 conv), so a
VAE and a VAE-GAN of the same widths differ only in how the reconstruction
is scored. The decoder's one output channel per image channel is a logit;
its sigmoid is the image in [0, 1].

The discriminator is a DCGAN-style stack of 4x4 stride-2 LeakyReLU convs
without normalisation (no batch statistics to carry, and a per-example
function, so its features of one image do not depend on the rest of the
batch). It returns its logit and the activations of its `feature_layer`-th
conv (1-based), Dis_l(x) of the paper, whose squared distance is the
reconstruction loss.

Shapes: Fashion-MNIST's 28x28 images are zero-padded to 32x32 for all three
networks (jaxgen.nn.padding); a decoder output is cropped to 28x28 and padded
again before the discriminator sees it, so real and generated images have
the same zero border and the border tells D nothing.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen import data
from jaxgen.nn import fast_conv
from jaxgen.nn.padding import crop_to, pad_to, padded_shape
from jaxgen.vae.models import Decoder, Encoder

LEAK = 0.2


class Discriminator(nn.Module):
    """images [N, H', W', C] in [0, 1] -> (logits [N], features [N, F] of layer l)."""

    channels: Sequence[int] = (32, 64, 128)
    feature_layer: int = 3  # 1-based index of the conv whose output is Dis_l(x)

    @nn.compact
    def __call__(self, x):
        x = 2.0 * x - 1.0  # [0, 1] -> [-1, 1], centred inputs for the first conv
        features = None
        for i, width in enumerate(self.channels):
            x = nn.leaky_relu(fast_conv.Conv(width, kernel_size=4, stride=2)(x), LEAK)
            if i + 1 == self.feature_layer:
                features = x.reshape(x.shape[0], -1)  # [N, h * w * width]
        logits = nn.Dense(1, name="out")(x.reshape(x.shape[0], -1))[:, 0]  # [N]
        return logits, features


# ------------------------------------------------------------------ from a config


def network_depth(config) -> int:
    """Stride-2 layers on the longest path: the padded sides are multiples of 2**depth."""
    return max(len(config.enc_channels), len(config.dec_channels), len(config.d_channels))


def network_image_shape(config) -> tuple:
    """(H', W') every network sees: the dataset's images padded to multiples of 2**depth."""
    height, width, _ = data.image_shape(config)
    return padded_shape(height, width, 2 ** network_depth(config))


def make_encoder(config) -> Encoder:
    return Encoder(config.latent_dim, tuple(config.enc_channels), variational=True)


def make_decoder(config) -> Decoder:
    height, width = network_image_shape(config)
    scale = 2 ** len(config.dec_channels)
    return Decoder(tuple(config.dec_channels), data.image_shape(config)[-1],
                   (height // scale, width // scale), upsample=config.upsample)


def make_discriminator(config) -> Discriminator:
    return Discriminator(tuple(config.d_channels), config.feature_layer)


def network_input(config, pixels):
    """uint8 images [B, H, W, C] -> float32 [B, H', W', C] in [0, 1], zero-padded."""
    return pad_to(pixels.astype(jnp.float32) / 255.0, network_image_shape(config))


def encode(config, enc_params, x):
    """Padded images [B, H', W', C] -> (mean, log_var) [B, D] each."""
    return make_encoder(config).apply(enc_params, x)


def decode(config, dec_params, z):
    """Latents [B, D] -> images [B, H, W, C] in [0, 1] (the decoder's sigmoid, cropped)."""
    logits = make_decoder(config).apply(dec_params, z)  # [B, H'', W'', C]
    return jax.nn.sigmoid(crop_to(logits, data.image_shape(config)[:2]))


def discriminate(config, dis_params, images):
    """Images [B, H, W, C] in [0, 1] -> (logits [B], features [B, F])."""
    return make_discriminator(config).apply(
        dis_params, pad_to(images, network_image_shape(config)))


def init_params(config, key, sample_pixels) -> dict:
    """{"enc", "dec", "dis"}: the three networks' parameters."""
    k_enc, k_dec, k_dis = jax.random.split(key, 3)
    x = network_input(config, sample_pixels[:1])
    z = jnp.zeros((1, config.latent_dim))
    return {"enc": make_encoder(config).init(k_enc, x),
            "dec": make_decoder(config).init(k_dec, z),
            "dis": make_discriminator(config).init(k_dis, x)}
