"""What every autoregressive network here shares: the input encoding, the
class conditioning, the output head, explicit-key dropout, and the cache API
the samplers drive.

Networks map an integer grid tokens [B, H, W] (values 0..num_categories-1:
8-bit values, or VQ-VAE code indices) to per-position head outputs
[B, H, W, n_out]. A colour image of C channels is the grid [B, H, W * C]
whose columns interleave the channels (losses.py, "Channels"); the network
then adds a learned bias by the channel a column holds (`channel_bias`), so
it can tell a red value from a green one. They are `ARNetwork` subclasses and
provide

    from_features(x, cond, dropout_key)  x = encode(tokens): the whole grid
    init_cache(num, height, width)       buffers for the cached sampler
    row_step(cache, i, cond)             work that only needs rows < i
    pixel_step(cache, i, j, cond)        -> (cache, head output at (i, j) [B, n_out])

`write_input` then stores the sampled value of (i, j) in the cache.
"""
from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.autoregressive import likelihoods
from jaxgen.nn.masked import pad_buffer, write_pixel


def dropout(x, rate: float, key):
    """Inverted dropout from an explicit key; identity when key is None or rate is 0."""
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


def layer_key(key, layer: int):
    return None if key is None else jax.random.fold_in(key, layer)


def gate(pre):
    """Gated activation tanh(a) * sigmoid(b) of [..., 2C] -> [..., C]."""
    a, b = jnp.split(pre, 2, axis=-1)
    return jnp.tanh(a) * jax.nn.sigmoid(b)


class OutputHead(nn.Module):
    """ReLU -> 1x1 (hidden) -> ReLU -> 1x1 (n_out): per-pixel, so causal as is."""

    hidden: int
    out: int

    @nn.compact
    def __call__(self, h):
        h = nn.relu(h)
        if self.hidden:
            h = nn.relu(nn.Dense(self.hidden)(h))
        return nn.Dense(self.out)(h)


class ARNetwork(nn.Module):
    """Fields and shared parts of the autoregressive networks.

    input_embedding = 0 feeds each value as one scalar in [-1, 1] (ordered grey
    levels); E > 0 learns an E-dimensional embedding per category (unordered
    codes). num_classes > 0 adds a learned per-layer bias from a one-hot label.
    image_channels = C > 1 adds a learned bias by channel to the first layer's
    output: it depends on a position, never on data, so causality is kept.
    """

    num_categories: int = 256
    head: str = "softmax"
    num_mixtures: int = 5
    channels: int = 64
    num_layers: int = 6
    kernel_size: int = 3
    first_kernel_size: int = 7
    head_hidden: int = 128
    input_embedding: int = 0
    num_classes: int = 0
    dropout_rate: float = 0.0
    image_channels: int = 1  # C > 1: grid column x holds channel x % C of its pixel
    # False where the network does not implement the cache API below (its
    # init_cache raises): only the naive sampler can draw from it.
    has_cache: ClassVar[bool] = True

    # ------------------------------------------------------------- shared parts

    def setup_common(self, cond_widths, first_width: int):
        """Create the embedding, the conditioning projections (one per width in
        `cond_widths`, one per layer), the channel bias (of the first layer's
        output width `first_width`) and the head. Call from `setup`."""
        if self.image_channels > 1:
            self.channel_table = self.param("channel_bias", nn.initializers.zeros_init(),
                                            (self.image_channels, first_width))
        if self.input_embedding:
            self.embedding = nn.Embed(self.num_categories, self.input_embedding)
        if self.num_classes:
            self.cond_proj = [nn.Dense(w, use_bias=False) for w in cond_widths]
        self.output_head = OutputHead(
            self.head_hidden,
            likelihoods.output_channels(self.head, self.num_categories, self.num_mixtures))

    @property
    def input_channels(self) -> int:
        return self.input_embedding or 1

    @property
    def buffer_pad(self) -> int:
        """Zero border of the sampler buffers: the largest tap radius, plus one
        row for layers that read the row above (Row LSTM)."""
        return max(self.first_kernel_size, self.kernel_size, 3) // 2 + 1

    def encode(self, tokens):
        """int [...] -> float [..., input_channels]."""
        if self.input_embedding:
            return self.embedding(tokens)
        scaled = tokens.astype(jnp.float32) / (self.num_categories - 1) * 2.0 - 1.0
        return scaled[..., None]

    def cond_bias(self, cond, layer: int, ndim: int):
        """The class bias of `layer`, shaped to broadcast against an [..., C]
        tensor with `ndim` dims; 0 without conditioning."""
        if not self.num_classes or cond is None:
            return 0.0
        bias = self.cond_proj[layer](cond)  # [B, C]
        return bias.reshape(bias.shape[:1] + (1,) * (ndim - 2) + bias.shape[1:])

    def channel_bias(self, width: int):
        """[width, F]: the bias of every grid column by the channel it holds
        (column x holds channel x % C; width is a multiple of C); 0 for C = 1."""
        if self.image_channels == 1:
            return 0.0
        return jnp.tile(self.channel_table, (width // self.image_channels, 1))

    def channel_bias_at(self, j):
        """[F]: the channel bias of grid column j (may be traced); 0 for C = 1."""
        if self.image_channels == 1:
            return 0.0
        return jnp.take(self.channel_table, j % self.image_channels, axis=0)

    def __call__(self, tokens, cond=None, dropout_key=None):
        """tokens int [B, H, W] -> head outputs [B, H, W, n_out]."""
        return self.from_features(self.encode(tokens), cond, dropout_key)

    # ------------------------------------------------------------- cache API

    def input_buffer(self, num: int, height: int, width: int):
        """The encoded input grid, padded; unsampled pixels hold encode(0),
        never read before they are written (causality)."""
        x = self.encode(jnp.zeros((num, height, width), jnp.int32))
        return pad_buffer(x, self.buffer_pad)

    def zero_buffer(self, num: int, height: int, width: int, channels: int):
        p = self.buffer_pad
        return jnp.zeros((num, height + 2 * p, width + 2 * p, channels), jnp.float32)

    def write_input(self, cache, values, i, j):
        """Store sampled values int [B] of pixel (i, j) in the input buffer."""
        return {**cache, "x": write_pixel(cache["x"], self.encode(values), i, j, self.buffer_pad)}

    def row_step(self, cache, i, cond=None):
        return cache
