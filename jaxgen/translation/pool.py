"""CycleGAN's history of generated images (Shrivastava et al. 2017; Zhu et al.
2017, Sec. 4), held functionally: a fixed-size buffer [size, H, W, C] and the
number of images stored, both arrays in the TrainState, updated by a pure
function of (pool, new images, key). A resumed run restores the buffer from
the checkpoint and draws the same keys, so it stays exact.

For each new image in turn: while the pool is not full it is stored and
returned; once full, with probability 1/2 a uniformly chosen stored image is
returned and the new one takes its place, else the new image is returned.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def empty_pool(size: int, image_shape) -> dict:
    return {"images": jnp.zeros((size,) + tuple(image_shape), jnp.float32),
            "count": jnp.zeros((), jnp.int32)}


def query(pool: dict, images, key):
    """(new pool, images for the discriminator [B, H, W, C])."""
    size = pool["images"].shape[0]

    def one(carry, inputs):
        buffer, count = carry
        image, k = inputs
        k_swap, k_index = jax.random.split(k)
        full = count >= size
        swap = full & jax.random.bernoulli(k_swap, 0.5)
        index = jnp.where(full, jax.random.randint(k_index, (), 0, size), jnp.minimum(count, size - 1))
        stored = buffer[index]
        out = jnp.where(swap, stored, image)
        write = swap | ~full  # a free slot, or the slot whose image is handed out
        buffer = buffer.at[index].set(jnp.where(write, image, stored))
        return (buffer, jnp.minimum(count + 1, size)), out

    if size == 0:  # no history: the discriminator sees the newest fakes
        return pool, images
    (buffer, count), out = jax.lax.scan(
        one, (pool["images"], pool["count"]), (images, jax.random.split(key, images.shape[0])))
    return {"images": buffer, "count": count}, out
