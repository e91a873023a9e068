"""Image classifiers: an MLP and a small CNN (the `classifier` family's
networks, and the feature extractor of the image metrics, which is why they
live in nn/: metrics/ imports no family).

Both map float images [B, H, W, C] (already standardised) to
`(logits [B, K], features [B, F])`, where `features` is the penultimate
layer: the representation the image metrics compare (FID, KID, precision and
recall on the CNN's features; DESIGN.md, "Metrics").

Dropout is active only when a `dropout` key is passed in `rngs` and
`train=True`; evaluation and feature extraction are deterministic.

The CNN uses plain `nn.Conv`: for these small forward convolutions it trained
faster on this CPU than an im2col GEMM form (977 vs 837
examples per CPU-second, batch 128), unlike the transposed convolutions there.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

MODELS = ("mlp", "cnn")
# Per-pixel mean and std of the Fashion-MNIST training images in [0, 1]:
# inputs are standardised so both networks start from unit-scale activations.
PIXEL_MEAN = 0.2860
PIXEL_STD = 0.3530


def max_pool_2x2(x):
    """[B, H, W, C] -> [B, H/2, W/2, C] (H, W even)."""
    b, h, w, c = x.shape
    return jnp.max(x.reshape(b, h // 2, 2, w // 2, 2, c), axis=(2, 4))


class MLP(nn.Module):
    hidden: Sequence[int] = (512, 256)
    num_classes: int = 10
    dropout_rate: float = 0.2

    @nn.compact
    def __call__(self, x, train: bool = False):  # x: [B, 28, 28, 1]
        h = x.reshape(x.shape[0], -1)  # [B, 784]
        for width in self.hidden:
            h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
            h = nn.relu(nn.Dense(width)(h))
        features = h  # [B, hidden[-1]]
        h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
        return nn.Dense(self.num_classes)(h), features


class CNN(nn.Module):
    """3x3 convolutions with ReLU, a 2x2 max-pool after each but the last, then
    a dense layer. With channels (32, 64, 128):

    [B, 28, 28, 1] -> conv 32, pool -> [B, 14, 14, 32] -> conv 64, pool
    -> [B, 7, 7, 64] -> conv 128 -> [B, 7, 7, 128] -> flatten
    -> Dense(feature_dim) = features -> Dense(num_classes) = logits.
    """

    channels: Sequence[int] = (32, 64, 128)
    feature_dim: int = 128
    num_classes: int = 10
    dropout_rate: float = 0.3

    @nn.compact
    def __call__(self, x, train: bool = False):  # x: [B, 28, 28, 1]
        h = x
        for i, width in enumerate(self.channels):
            h = nn.relu(nn.Conv(width, (3, 3), padding="SAME")(h))
            if i < len(self.channels) - 1:
                h = max_pool_2x2(h)
        h = h.reshape(h.shape[0], -1)  # [B, 7 * 7 * 128]
        h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
        features = nn.relu(nn.Dense(self.feature_dim)(h))  # [B, feature_dim]
        h = nn.Dropout(self.dropout_rate, deterministic=not train)(features)
        return nn.Dense(self.num_classes)(h), features


def num_classes_of(params) -> int:
    """K of a trained classifier, read off its output layer."""
    last = max((k for k in params["params"] if k.startswith("Dense_")),
               key=lambda k: int(k.split("_")[1]))
    return int(params["params"][last]["bias"].shape[0])


def make_model(config, num_classes: int):
    if config.model == "mlp":
        return MLP(hidden=tuple(config.mlp_hidden), num_classes=num_classes,
                   dropout_rate=config.dropout)
    return CNN(channels=tuple(config.cnn_channels), feature_dim=config.feature_dim,
               num_classes=num_classes, dropout_rate=config.dropout)


def standardise(images):
    """Images in [0, 1] [B, H, W, C] -> the networks' input scale."""
    return (images - PIXEL_MEAN) / PIXEL_STD


def pixels_to_unit(pixels):
    """uint8 [B, H, W, C] -> float32 in [0, 1]."""
    return pixels.astype(jnp.float32) / 255.0


def apply_model(config, params, images, *, dropout_key=None):
    """Images in [0, 1] [B, H, W, C] -> (logits [B, K], features [B, F]).

    With a `dropout_key` the network runs in training mode (dropout on).
    """
    model = make_model(config, num_classes_of(params))
    x = standardise(images)
    if dropout_key is None:
        return model.apply(params, x, train=False)
    return model.apply(params, x, train=True, rngs={"dropout": dropout_key})
