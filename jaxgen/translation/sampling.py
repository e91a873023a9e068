"""Translating images: `sample(config, state, key, num, cond)` of both translators.

cond None translates the first `num` test inputs (side "a" of the test
split, repeated if there are fewer); a batch dict translates its "a" (or
"image") images, uint8 or floats in [0, 1], [num, H, W, C]. Output: G(a) in
[0, 1], [num, H, W, C_b]. Pix2Pix keeps its dropout on when sampling
(`sample_dropout`, as in the paper), driven by `key`; CycleGAN has none.
"""
from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from jaxgen import data
from jaxgen.translation import cyclegan, pix2pix
from jaxgen.translation.models import to_signed, to_unit

_DATA_KEYS = ("dataset", "dataset_b", "source", "data_path", "data_path_b", "image_size",
              "channels")


@functools.lru_cache(maxsize=4)
def _test_split(identity: tuple) -> dict:
    config = dict(zip(_DATA_KEYS, identity))
    import ml_collections
    return data.load_split(ml_collections.ConfigDict(config), "test")


def test_split(config) -> dict:
    """The run's test split (flat dict of numpy arrays), cached per data identity."""
    return _test_split(tuple(config.get(k) for k in _DATA_KEYS))


def first_inputs(config, num: int, side: str = "a") -> np.ndarray:
    """The first `num` test images of `side`, uint8 [num, H, W, C] (cycled if fewer)."""
    images = test_split(config)[side]
    return images[np.arange(num) % len(images)]


def as_signed(images):
    """uint8 pixels or floats in [0, 1] -> [-1, 1]."""
    if jnp.issubdtype(jnp.asarray(images).dtype, jnp.integer):
        return to_signed(images)
    return jnp.asarray(images, jnp.float32) * 2.0 - 1.0


def condition_images(config, num: int, cond, side: str = "a"):
    if cond is None:
        return to_signed(jnp.asarray(first_inputs(config, num, side)))
    if isinstance(cond, dict):
        for name in (side, "image"):
            if name in cond:
                return as_signed(cond[name])
        raise KeyError(f"a translator's cond is a batch dict with {side!r} or 'image'")
    return as_signed(cond)


def translate_ab(config, state, x, key):
    """Side a -> side b, [-1, 1] in and out."""
    if config.family == "pix2pix":
        return pix2pix.generate(config, state.params["g"], x, key,
                                dropout=config.sample_dropout)
    return cyclegan.translate(config, state.params, "g_ab", x)


def sample(config, state, key, num: int, cond=None):
    """G(a) in [0, 1], [num, H, W, C_b] (module docstring)."""
    return to_unit(translate_ab(config, state, condition_images(config, num, cond), key))


