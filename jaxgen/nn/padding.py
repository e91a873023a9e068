"""Zero-padding images to the size a strided network needs, and cropping back.

A stack of n stride-2 convolutions maps a side of s to s / 2**n only when s is a
multiple of 2**n, and its mirror-image decoder can only produce such sides, so
networks of this kind run on images padded up to that multiple (Fashion-MNIST's
28 -> 32 for three halvings) and their likelihoods are read on the central,
unpadded pixels alone, so the padding never contributes nats.
"""
from __future__ import annotations

import jax.numpy as jnp


def padded_side(side: int, multiple: int) -> int:
    """The smallest multiple of `multiple` that is >= side (28, 8 -> 32; 32, 8 -> 32)."""
    return -(-side // multiple) * multiple


def padded_shape(height: int, width: int, multiple: int) -> tuple:
    """(H', W') of an image padded to multiples of `multiple`."""
    return padded_side(height, multiple), padded_side(width, multiple)


def _before(side: int, target: int) -> int:
    """Rows (or columns) of padding before the image: half, the odd one after."""
    return (target - side) // 2


def pad_to(x, target_hw):
    """Zero-pad images [B, H, W, C] to [B, H', W', C], centred (28 -> 32: 2 on each side)."""
    (h, w), (th, tw) = x.shape[1:3], target_hw
    if th < h or tw < w:
        raise ValueError(f"cannot pad images of {h}x{w} to the smaller {th}x{tw}")
    top, left = _before(h, th), _before(w, tw)
    return jnp.pad(x, ((0, 0), (top, th - h - top), (left, tw - w - left), (0, 0)))


def crop_to(x, image_hw):
    """The inverse of `pad_to`: the central [B, H, W, C] of padded [B, H', W', C]."""
    (th, tw), (h, w) = x.shape[1:3], image_hw
    top, left = _before(h, th), _before(w, tw)
    return x[:, top:top + h, left:left + w, :]
