"""Multi-scale flows: RealNVP and Glow as one Linen module.

`Flow(x [B, H, W, C]) -> (z [B, D], log_det [B])` with D = H*W*C, and
`Flow(z, inverse=True) -> (x, log_det of the inverse)`. The latent is the
concatenation of every factored-out half (RealNVP's multi-scale architecture:
after each level but the last, half the channels leave the flow and go
straight to the N(0, I) prior), flattened in a fixed order.

Levels (S = steps_per_level):
  realnvp, images: S checkerboard couplings, squeeze, S channel couplings, split;
                   the last level: S checkerboard couplings only.
  glow, images:    squeeze, S x (actnorm, invertible 1x1 conv, channel coupling), split;
                   the last level has no split.
  2-D points ([B, 1, 1, 2], one level, Dense conditioners): realnvp alternates
                   channel couplings; glow uses S x (actnorm, 1x1 conv, coupling).
"""
from __future__ import annotations

from typing import Tuple

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from jaxgen import data
from jaxgen.flows import dequantization as deq
from jaxgen.flows import layers

ARCHITECTURES = ("realnvp", "glow")
POINT_SHAPE = (1, 1, 2)  # 2-D points go through the flow as 1x1 images with 2 channels


def is_points(image_shape) -> bool:
    return tuple(image_shape[:2]) == (1, 1)


def squeezes_in_level(architecture: str, level: int, num_levels: int, points: bool) -> int:
    if points:
        return 0
    if architecture == "realnvp":
        return 0 if level == num_levels - 1 else 1
    return 1


def latent_shapes(architecture: str, image_shape, num_levels: int) -> list:
    """Shapes [H, W, C] of the factored-out parts, in the order they leave the
    flow; the last entry is what comes out of the last level."""
    h, w, c = image_shape
    shapes = []
    for level in range(num_levels):
        for _ in range(squeezes_in_level(architecture, level, num_levels,
                                         is_points(image_shape))):
            h, w, c = h // 2, w // 2, 4 * c
        if level < num_levels - 1:
            shapes.append((h, w, c // 2))
            c -= c // 2
    shapes.append((h, w, c))
    return shapes


def squeezes(architecture: str, num_levels: int) -> int:
    """How many times the levels halve an image's height and width."""
    return sum(squeezes_in_level(architecture, level, num_levels, False)
               for level in range(num_levels))


def check_architecture(architecture: str, image_shape, num_levels: int) -> None:
    """ValueError if the levels do not fit the input shape."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    if num_levels < 1:
        raise ValueError(f"num_levels must be >= 1, got {num_levels}")
    if is_points(image_shape):
        if num_levels != 1:
            raise ValueError("2-D flows have a single level (num_levels=1)")
        return
    h, w, c = image_shape
    for level in range(num_levels):
        for _ in range(squeezes_in_level(architecture, level, num_levels, False)):
            if h % 2 or w % 2:
                factor = 2 ** squeezes(architecture, num_levels)
                raise ValueError(
                    f"{num_levels} levels of {architecture} squeeze the image "
                    f"{squeezes(architecture, num_levels)} times, so its height and width "
                    f"must be divisible by {factor}; {image_shape[0]}x{image_shape[1]} "
                    f"reaches an odd size {h}x{w}: use fewer levels")
            h, w, c = h // 2, w // 2, 4 * c
        if level < num_levels - 1 and c < 2:
            raise ValueError("cannot factor out half of a single channel")


class Flow(nn.Module):
    architecture: str
    image_shape: Tuple[int, int, int]
    num_levels: int
    steps_per_level: int
    hidden: int
    num_blocks: int
    conv: str = "flax"  # the image conditioners' convolutions (fast_conv.conv3x3)

    def setup(self):
        check_architecture(self.architecture, self.image_shape, self.num_levels)
        self.levels = [self._level(i) for i in range(self.num_levels)]

    def _level(self, level: int) -> list:
        points = is_points(self.image_shape)
        net = dict(conditioner="dense" if points else "conv", conv=self.conv, hidden=self.hidden,
                   num_blocks=self.num_blocks)
        s = self.steps_per_level
        if self.architecture == "realnvp":
            if points:
                return [layers.ChannelCoupling(parity=i % 2, **net) for i in range(s)]
            out = [layers.CheckerboardCoupling(parity=i % 2, **net) for i in range(s)]
            if level < self.num_levels - 1:
                out.append(layers.Squeeze())
                out += [layers.ChannelCoupling(parity=i % 2, **net) for i in range(s)]
            return out
        out = [] if points else [layers.Squeeze()]
        for _ in range(s):
            out += [layers.ActNorm(), layers.InvertibleConv1x1(), layers.ChannelCoupling(**net)]
        return out

    def __call__(self, x, inverse: bool = False):
        return self.inverse(x) if inverse else self.forward(x)

    def forward(self, x):
        """x [B, H, W, C] -> (z [B, D], log|det dz/dx| [B])."""
        b = x.shape[0]
        total = jnp.zeros((b,), x.dtype)
        factored = []
        for i, level in enumerate(self.levels):
            for layer in level:
                x, log_det = layer(x, inverse=False)
                total = total + log_det
            if i < self.num_levels - 1:
                half = x.shape[-1] // 2
                factored.append(x[..., :half].reshape(b, -1))
                x = x[..., half:]
        factored.append(x.reshape(b, -1))
        return jnp.concatenate(factored, axis=1), total

    def inverse(self, z):
        """z [B, D] -> (x [B, H, W, C], log|det dx/dz| [B])."""
        b = z.shape[0]
        shapes = latent_shapes(self.architecture, self.image_shape, self.num_levels)
        sizes = [h * w * c for h, w, c in shapes]
        parts = jnp.split(z, [int(i) for i in np.cumsum(sizes[:-1])], axis=1)
        parts = [p.reshape((b,) + s) for p, s in zip(parts, shapes)]
        x = parts[-1]
        total = jnp.zeros((b,), z.dtype)
        for i in reversed(range(self.num_levels)):
            if i < self.num_levels - 1:
                x = jnp.concatenate([parts[i], x], axis=-1)
            for layer in reversed(self.levels[i]):
                x, log_det = layer(x, inverse=True)
                total = total + log_det
        return x, total


# ----------------------------------------------------------------- from a config


def uses_points(config) -> bool:
    return data.kind(config) == "points"


def data_shape(config) -> tuple:
    """The flow's input shape [H, W, C]: the dataset's images, or POINT_SHAPE."""
    return POINT_SHAPE if uses_points(config) else tuple(data.image_shape(config))


def make_flow(config) -> Flow:
    """The flow of a realnvp / glow run (the family name is the architecture)."""
    points = uses_points(config)
    return Flow(architecture=config.family, image_shape=data_shape(config),
                num_levels=1 if points else config.num_levels,
                steps_per_level=config.toy_steps if points else config.steps_per_level,
                hidden=config.hidden, num_blocks=config.num_blocks, conv=config.conv)


def make_dequantizer(config) -> deq.VariationalDequantizer:
    return deq.VariationalDequantizer(hidden=config.deq_hidden, num_blocks=config.num_blocks,
                                      num_couplings=config.deq_couplings, conv=config.conv)
