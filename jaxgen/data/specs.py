"""What a dataset declares about itself: its kind, the fields of one example
with their shapes, dtypes and value ranges, its classes and its splits.

Families read every shape from here (`data.spec(config)`), never from
constants, so the same family trains on 28x28x1 Fashion-MNIST, 28x28x3
Fashion-MNIST-M or a folder of 32x32 photographs with no code change.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Mapping

import jax
import numpy as np

KINDS = ("images", "points", "tokens")


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of an example: shape (without the batch axis), dtype and the
    closed range [low, high] its values lie in (None: unbounded)."""

    shape: tuple
    dtype: np.dtype
    low: float | None = None
    high: float | None = None

    def batched(self, batch_size: int) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct((batch_size,) + tuple(self.shape), self.dtype)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def image_field(height: int, width: int, channels: int) -> Field:
    """8-bit images, the form every image dataset stores: uint8 in [0, 255]."""
    return Field((height, width, channels), np.dtype(np.uint8), 0, 255)


def label_field(num_classes: int) -> Field:
    return Field((), np.dtype(np.int32), 0, num_classes - 1)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Everything a family may ask of a dataset without loading it.

    fields: one example, e.g. {"image": uint8 [28, 28, 1], "label": int32 []};
    paired datasets hold {"a": ..., "b": ..., "label": ...}.
    """

    name: str
    kind: str
    fields: Mapping[str, Field]
    num_classes: int = 0          # 0: no class labels
    splits: tuple = ("train", "test")
    class_names: tuple = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def image_shape(self) -> tuple:
        """(H, W, C) of the images ("image", else the target side "b" of a pair)."""
        for name in ("image", "b"):
            if name in self.fields:
                return tuple(self.fields[name].shape)
        raise ValueError(f"dataset {self.name!r} ({self.kind}) has no images")

    @property
    def labelled(self) -> bool:
        return self.num_classes > 0 and "label" in self.fields

    def batch_shapes(self, batch_size: int) -> dict:
        """A batch's ShapeDtypeStructs, keyed like the loaded arrays."""
        return {name: f.batched(batch_size) for name, f in self.fields.items()}


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A named dataset: how to describe it and how to load a split.

    spec(config) -> DatasetSpec       (cheap: no data is read)
    load(config, split) -> {field: numpy array [N, ...]}, matching the spec
    config_keys: the data keys it reads besides `dataset` (data_path, ...);
      the others must stay at their defaults, so a key it ignores is refused.
    stream(config, split) -> streaming.StreamFiles, for datasets that can be
      streamed (`streaming=True`, data/streaming.py); None: in memory only.
    """

    name: str
    description: str
    spec: Callable
    load: Callable
    config_keys: tuple = ()
    how_to_get: str = ""
    stream: Callable | None = None
