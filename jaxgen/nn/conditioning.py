"""Conditions as class labels: the one reading of `cond` for class-conditional families.

`sample(config, state, key, num, cond=None)` takes `cond` as None, an int
class, an [num] int label array, or a batch dict holding "label". With
None, sample i gets class (i * K) // num: a grid of K rows (num a multiple
of K, drawn row by row) shows one class per row, the layout every
class-conditional picture in jaxgen uses.
"""
from __future__ import annotations

import jax.numpy as jnp


def class_rows(num: int, num_classes: int):
    """[num] labels, class (i * K) // num for sample i: one class per grid row."""
    return (jnp.arange(num) * num_classes) // num


def class_labels(cond, num: int, num_classes: int):
    """The [num] int32 labels a condition stands for (see the module docstring)."""
    if cond is None:
        return class_rows(num, num_classes).astype(jnp.int32)
    if isinstance(cond, dict):
        cond = cond["label"]
    return jnp.broadcast_to(jnp.asarray(cond, jnp.int32), (num,))
