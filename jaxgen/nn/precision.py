"""Mixed precision: the dtype networks compute in, parameters kept in float32.

A config's `compute_dtype` ("float32" or "bfloat16") becomes the `dtype=` of
the Flax layers of a family that supports it: each layer casts its inputs and
its (float32) parameters to that dtype for the computation, while the
parameters, their gradients and the optimizer state stay float32. Whatever a
loss, a log-density or a metric reads is cast back to float32 first
(`to_float32`), so reductions and likelihoods are never computed in bfloat16.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

# None: Flax's default, the dtype of the inputs and parameters (float32), so a
# float32 run builds exactly the layers it built before this option existed.
_LAYER_DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}


def layer_dtype(config):
    """The `dtype=` for the Flax layers of a run: None (float32) or jnp.bfloat16."""
    return _LAYER_DTYPES[config.get("compute_dtype", "float32")]


def to_float32(tree):
    """Every floating-point leaf of `tree` as float32 (integers untouched)."""
    return jax.tree.map(lambda x: x.astype(jnp.float32)
                        if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)
