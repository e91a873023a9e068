"""DANN's three networks (Ganin et al. 2016, the MNIST -> MNIST-M architecture).

    features: [B, H, W, C] -> conv 5x5 32, ReLU, 2x2 max-pool -> conv 5x5 48,
              ReLU, 2x2 max-pool -> flatten     (28x28: [B, 4 * 4 * 48] = [B, 768])
    label:    features -> Dense 100, ReLU -> Dense 100, ReLU -> Dense K  (logits)
    domain:   features -> Dense 100, ReLU -> Dense 1  (logit of "target")

The convolutions are 'VALID', as in the paper; pools floor odd sides, so any
image size of at least 16 works (32x32: 5 * 5 * 48 features).
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgen.nn import precision

NETWORKS = ("features", "label", "domain")


class FeatureExtractor(nn.Module):
    channels: Sequence[int] = (32, 48)
    kernel_size: int = 5
    # Compute dtype (jaxgen.nn.precision), in each network here; each returns
    # float32, so the losses, accuracies and the reversed gradient's scaling read float32.
    dtype: Any = None

    @nn.compact
    def __call__(self, x):  # [B, H, W, C] in [-1, 1]
        h = x
        for width in self.channels:
            h = nn.Conv(width, (self.kernel_size,) * 2, padding="VALID", dtype=self.dtype)(h)
            h = nn.max_pool(nn.relu(h), (2, 2), strides=(2, 2))
        return precision.to_float32(h.reshape(h.shape[0], -1))  # [B, F]


class MLPHead(nn.Module):
    hidden: Sequence[int]
    outputs: int
    dtype: Any = None

    @nn.compact
    def __call__(self, h):  # [B, F]
        for width in self.hidden:
            h = nn.relu(nn.Dense(width, dtype=self.dtype)(h))
        return precision.to_float32(nn.Dense(self.outputs, dtype=self.dtype)(h))  # [B, outputs]


def make_networks(config, num_classes: int) -> dict:
    dtype = precision.layer_dtype(config)
    return {"features": FeatureExtractor(tuple(config.feature_channels), config.kernel_size,
                                         dtype),
            "label": MLPHead(tuple(config.label_hidden), num_classes, dtype),
            "domain": MLPHead(tuple(config.domain_hidden), 1, dtype)}


def to_input(pixels):
    """uint8 [B, H, W, C] -> float32 in [-1, 1]."""
    return pixels.astype(jnp.float32) / 127.5 - 1.0
