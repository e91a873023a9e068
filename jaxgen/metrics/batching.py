"""Map a function over fixed-size blocks of rows, so memory stays bounded.

Pairwise quantities over 10,000 x 10,000 features would need 400 MB at once;
`map_in_blocks` pads the rows to a whole number of blocks and runs the blocks
one after another with `lax.map`, so a jit compiles the function once.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def map_in_blocks(fn, rows, block_size: int):
    """fn([block, ...]) -> [block, ...] applied to `rows` [N, ...] -> [N, ...]."""
    num = rows.shape[0]
    block_size = max(1, min(block_size, num))
    num_blocks = -(-num // block_size)
    padding = num_blocks * block_size - num
    # Edge padding repeats a real row: a zero row could make fn divide by zero.
    padded = jnp.pad(rows, [(0, padding)] + [(0, 0)] * (rows.ndim - 1), mode="edge")
    blocks = padded.reshape((num_blocks, block_size) + rows.shape[1:])
    out = jax.lax.map(fn, blocks)  # [num_blocks, block_size, ...]
    return jax.tree.map(lambda a: a.reshape((num_blocks * block_size,) + a.shape[2:])[:num], out)


def pairwise_sq_distances(a, b):
    """||a_i - b_j||^2 for a [N, D], b [M, D] -> [N, M], clipped at 0 against rounding."""
    a_sq = jnp.sum(a * a, axis=-1)[:, None]  # [N, 1]
    b_sq = jnp.sum(b * b, axis=-1)[None, :]  # [1, M]
    return jnp.maximum(a_sq + b_sq - 2.0 * a @ b.T, 0.0)
