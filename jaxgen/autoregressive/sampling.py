"""Raster-order samplers: the whole loop is one jitted program.

Both samplers draw pixel p = i * W + j with the key fold_in(key, p), through
`likelihoods.sample_values`, so for the same key they return the same grid
whenever the network outputs agree:

- naive: at every pixel, run the whole network on the current grid and read
  the output at p. H * W full forward passes.
- cached: keep every layer's activations in buffers and compute only the
  values pixel p needs (layers.py, "cache API"): per row, the work that only
  depends on rows above (the Gated PixelCNN's vertical stack); per pixel, each
  layer at p. About one forward pass of FLOPs for the whole image.

`model` is any layers.ARNetwork; `cond` is a one-hot label [num, K] or None.
Colour images are grids [H, W * C] (losses.py, "Channels"), so "pixel" here
means one grid position: one channel value.

`sample(config, state, key, num, cond)` is the families' face: it reads
`cond` as class labels (jaxgen.nn.conditioning) and returns images.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen import data
from jaxgen.autoregressive.likelihoods import sample_values
from jaxgen.autoregressive.losses import grid_images
from jaxgen.autoregressive.models import NUM_PIXEL_VALUES, class_onehot, make_model
from jaxgen.errors import ConfigError
from jaxgen.nn.conditioning import class_labels

SAMPLERS = ("naive", "cached")


def check_sampler(network_cls, sampler: str, what: str) -> None:
    """ConfigError unless `sampler` is known and the network class supports it;
    `what` names the network in the message (e.g. "architecture 'pixelcnn_pp'")."""
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if sampler == "cached" and not network_cls.has_cache:
        raise ConfigError(f"{what} has no cached sampler; pass --config.sampler=naive")


def pixel_key(key, i, j, width: int):
    return jax.random.fold_in(key, i * width + j)


def sample_naive(model, params, key, num: int, height: int, width: int, cond=None):
    """int grid [num, height, width] by H * W full forward passes."""

    def body(p, tokens):
        i, j = p // width, p % width
        out = model.apply(params, tokens, cond)  # [B, H, W, n_out]
        out_p = jax.lax.dynamic_index_in_dim(
            jax.lax.dynamic_index_in_dim(out, i, axis=1, keepdims=False), j, axis=1,
            keepdims=False)  # [B, n_out]
        values = sample_values(model.head, pixel_key(key, i, j, width), out_p)
        return tokens.at[:, i, j].set(values)

    tokens = jnp.zeros((num, height, width), jnp.int32)
    return jax.lax.fori_loop(0, height * width, body, tokens)


def sample_cached(model, params, key, num: int, height: int, width: int, cond=None):
    """int grid [num, height, width], recomputing only what each pixel needs."""

    def pixel(j, carry, i):
        cache, tokens = carry
        cache, out = model.apply(params, cache, i, j, cond, method="pixel_step")
        values = sample_values(model.head, pixel_key(key, i, j, width), out)
        cache = model.apply(params, cache, values, i, j, method="write_input")
        return cache, tokens.at[:, i, j].set(values)

    def row(i, carry):
        cache, tokens = carry
        cache = model.apply(params, cache, i, cond, method="row_step")
        return jax.lax.fori_loop(0, width, lambda j, c: pixel(j, c, i), (cache, tokens))

    cache = model.apply(params, num, height, width, method="init_cache")
    tokens = jnp.zeros((num, height, width), jnp.int32)
    return jax.lax.fori_loop(0, height, row, (cache, tokens))[1]


def sample_grid(model, params, key, num: int, height: int, width: int, cond=None,
                sampler: str = "cached"):
    """The entry point other families use (e.g. a PixelCNN prior over VQ-VAE codes)."""
    if sampler == "naive":
        return sample_naive(model, params, key, num, height, width, cond)
    if sampler == "cached":
        return sample_cached(model, params, key, num, height, width, cond)
    raise ValueError(f"unknown sampler {sampler!r}; known samplers: {SAMPLERS}")


def sample_tokens(config, params, key, num: int, cond=None, sampler: str | None = None):
    """int grid [num, H, W * C] of a pixelcnn / pixelrnn run (`sampler`
    defaults to the config's)."""
    h, w, c = data.image_shape(config)
    onehot = None
    if config.conditional:
        onehot = class_onehot(config, class_labels(cond, num, data.num_classes(config)))
    return sample_grid(make_model(config), params, key, num, h, w * c, onehot,
                       sampler or config.sampler)


def sample(config, state, key, num: int, cond=None):
    """[num, H, W, C] in [0, 1] (8-bit values / 255), drawn one channel value
    at a time with `config.sampler`; cond: class labels of a conditional run."""
    _, _, c = data.image_shape(config)
    tokens = grid_images(sample_tokens(config, state.params, key, num, cond), c)
    return tokens.astype(jnp.float32) / (NUM_PIXEL_VALUES - 1)
