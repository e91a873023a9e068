"""The objective of the pixelcnn / pixelrnn families: the exact negative
log-likelihood of 8-bit images, -sum_i log p(x_i | x_<i) in nats per image.

Channels. An image [H, W, C] is modelled one channel value at a time in
raster order over (row, column, channel): the grid the networks see is
[H, W * C], pixel (i, j)'s channel c at column j * C + c. Raster order over
that grid is exactly the (row, column, channel) order, so every network's
causal masks and both samplers apply unchanged, and the likelihood is exact
for any C. (PixelCNN's alternative, R -> G -> B masks over channel groups of
the hidden units, keeps kernels pixel-wide; here a kernel's width counts
grid columns, i.e. channel values, so widen `kernel_size` for colour.)
"""
from __future__ import annotations

import jax.numpy as jnp

from jaxgen import data, metrics
from jaxgen.autoregressive import likelihoods
from jaxgen.autoregressive.models import class_onehot, make_model


def image_grid(images):
    """uint8 images [B, H, W, C] -> int32 grid [B, H, W * C], channels
    interleaved: grid[:, i, j * C + c] = images[:, i, j, c]."""
    b, h, w, c = images.shape
    return images.reshape(b, h, w * c).astype(jnp.int32)


def grid_images(grid, channels: int):
    """Inverse of `image_grid`: int grid [B, H, W * C] -> [B, H, W, C]."""
    b, h, wc = grid.shape
    return grid.reshape(b, h, wc // channels, channels)


def num_dims(config) -> int:
    """Values per image, H * W * C: what bits/dim divides by."""
    h, w, c = data.image_shape(config)
    return h * w * c


def bits_per_dim(config, nats):
    return metrics.bits_per_dim(nats, num_dims(config))


def image_nll(config, params, batch, dropout_key=None):
    """-log p(x) in nats per image, [B]; dropout only when a key is given."""
    tokens = image_grid(batch["image"])  # [B, H, W * C]
    out = make_model(config).apply(params, tokens, class_onehot(config, batch.get("label")),
                                   dropout_key)  # [B, H, W * C, n_out]
    return likelihoods.image_nll(config.head, out, tokens)


def nll_loss(config, params, batch, key):
    """(mean NLL in nats per image, metrics); `key` is the dropout key."""
    nll = jnp.mean(image_nll(config, params, batch, key if config.dropout > 0 else None))
    return nll, {"bpd": bits_per_dim(config, nll)}
