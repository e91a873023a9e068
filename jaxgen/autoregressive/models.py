"""PixelCNN and Gated PixelCNN over integer grids (Flax Linen).

PixelCNN (van den Oord et al. 2016a): a mask-A k0 x k0 convolution, then
residual blocks h += W1x1 relu(maskB_conv(relu(h))), then the head. Stacked
mask-B 3x3 layers grow a receptive field that misses the pixels up and to the
right of each pixel: the "blind spot" (tests/test_autoregressive.py finds it
by brute force).

Gated PixelCNN (van den Oord et al. 2016b): two stacks. The vertical stack v
sees full-width windows of the rows above only; the horizontal stack h sees
the current row to the left and receives v through a 1x1 link. Our first
vertical layer excludes the current row, so v never depends on row i and
needs no down-shift; the union of both stacks covers every earlier pixel,
which removes the blind spot. Activations are tanh(a) * sigmoid(b) gates;
h has residual connections; labels add a per-layer bias to both stacks.

Both networks also evaluate themselves pixel by pixel from caches (see
layers.py), which is what the cached sampler runs. PixelCNN++'s two-stream
U-Net (pixelcnn_pp.py, no cache API) is the third entry of ARCHITECTURES;
the PixelRNN layers (pixelrnn.py) are in RNNS. `make_model(config)` builds
the network a pixelcnn / pixelrnn config describes.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen import data
from jaxgen.autoregressive.layers import ARNetwork, dropout, gate, layer_key
from jaxgen.autoregressive.pixelcnn_pp import PixelCNNPP
from jaxgen.autoregressive.pixelrnn import DiagonalBiLSTM, RowLSTM
from jaxgen.nn.masked import (TapConv, horizontal_taps, raster_causal_taps, vertical_taps,
                              write_pixel, write_row)


class PixelCNN(ARNetwork):
    """Plain PixelCNN: mask A, then residual mask-B blocks."""

    def setup(self):
        c = self.channels
        self.first = TapConv(c, self.input_channels,
                             raster_causal_taps(self.first_kernel_size, include_center=False))
        self.convs = [TapConv(c, c, raster_causal_taps(self.kernel_size, include_center=True))
                      for _ in range(self.num_layers)]
        self.mixes = [nn.Dense(c) for _ in range(self.num_layers)]
        self.setup_common([c] * self.num_layers, first_width=c)

    def block_update(self, t, layer: int, cond, dropout_key=None):
        """The residual increment from a block's conv output t [..., C]."""
        t = nn.relu(t + self.cond_bias(cond, layer, t.ndim))
        return self.mixes[layer](dropout(t, self.dropout_rate, layer_key(dropout_key, layer)))

    def from_features(self, x, cond=None, dropout_key=None):
        h = self.first(x) + self.channel_bias(x.shape[2])  # [B, H, W, C]
        for layer, conv in enumerate(self.convs):
            h = h + self.block_update(conv(nn.relu(h)), layer, cond, dropout_key)
        return self.output_head(h)

    def init_cache(self, num: int, height: int, width: int):
        """x: the input grid; relu_l: relu(h) entering block l (what its conv reads)."""
        cache = {"x": self.input_buffer(num, height, width)}
        for layer in range(self.num_layers):
            cache[f"relu_{layer}"] = self.zero_buffer(num, height, width, self.channels)
        return cache

    def pixel_step(self, cache, i, j, cond=None):
        """Every layer at (i, j) only: all mask taps point at pixels <= (i, j)
        in raster order, computed at their own steps."""
        p = self.buffer_pad
        cache = dict(cache)
        h = self.first.at_pixel(cache["x"], i, j, p) + self.channel_bias_at(j)  # [B, C]
        for layer, conv in enumerate(self.convs):
            name = f"relu_{layer}"
            cache[name] = write_pixel(cache[name], nn.relu(h), i, j, p)
            h = h + self.block_update(conv.at_pixel(cache[name], i, j, p), layer, cond)
        return cache, self.output_head(h)


class GatedPixelCNN(ARNetwork):
    """Gated PixelCNN: vertical and horizontal stacks, no blind spot."""

    def setup(self):
        c, k, k0 = self.channels, self.kernel_size, self.first_kernel_size
        cin = self.input_channels
        self.vconvs = [TapConv(2 * c, cin if l == 0 else c,
                               vertical_taps(k0 if l == 0 else k, include_current_row=l > 0))
                       for l in range(self.num_layers)]
        self.hconvs = [TapConv(2 * c, cin if l == 0 else c,
                               horizontal_taps(k0 if l == 0 else k, include_center=l > 0))
                       for l in range(self.num_layers)]
        self.links = [nn.Dense(2 * c) for _ in range(self.num_layers)]
        self.outs = [nn.Dense(c) for _ in range(self.num_layers)]
        # One projection per stack and layer: even indices vertical, odd horizontal.
        self.setup_common([2 * c] * (2 * self.num_layers), first_width=2 * c)

    def vertical_pre(self, v_conv_out, layer: int, cond):
        """The vertical pre-activation [..., W, 2C] of `layer` from its conv
        output; the first layer's also carries the channel bias, which reaches
        the horizontal stack through the link."""
        pre = v_conv_out + self.cond_bias(cond, 2 * layer, v_conv_out.ndim)
        return pre + self.channel_bias(v_conv_out.shape[-2]) if layer == 0 else pre

    def horizontal_out(self, h_conv_out, v_pre, h_in, layer: int, cond, dropout_key=None):
        """New h from the horizontal conv output, the vertical link and the
        layer's h input (residual after the first layer)."""
        pre = h_conv_out + self.links[layer](v_pre) + self.cond_bias(cond, 2 * layer + 1,
                                                                      h_conv_out.ndim)
        gated = dropout(gate(pre), self.dropout_rate, layer_key(dropout_key, layer))
        out = self.outs[layer](gated)
        return out if layer == 0 else h_in + out

    def from_features(self, x, cond=None, dropout_key=None):
        v = h = x  # [B, H, W, C_in]
        for layer in range(self.num_layers):
            v_pre = self.vertical_pre(self.vconvs[layer](v), layer, cond)  # [B, H, W, 2C]
            h = self.horizontal_out(self.hconvs[layer](h), v_pre, h, layer, cond, dropout_key)
            v = gate(v_pre)
        return self.output_head(h)

    def init_cache(self, num: int, height: int, width: int):
        """x: input grid; v_l, h_l: the stacks entering layer l >= 1;
        vpre_l: layer l's vertical pre-activation along the current row."""
        cache = {"x": self.input_buffer(num, height, width)}
        for layer in range(self.num_layers):
            cache[f"vpre_{layer}"] = jnp.zeros((num, width, 2 * self.channels), jnp.float32)
            if layer > 0:
                cache[f"v_{layer}"] = self.zero_buffer(num, height, width, self.channels)
                cache[f"h_{layer}"] = self.zero_buffer(num, height, width, self.channels)
        return cache

    def row_step(self, cache, i, cond=None):
        """The vertical stack along row i: it reads rows < i of the input only,
        so it is computed once per row, before the row's pixels are sampled."""
        p = self.buffer_pad
        cache = dict(cache)
        for layer in range(self.num_layers):
            v_in = cache["x"] if layer == 0 else cache[f"v_{layer}"]
            v_pre = self.vertical_pre(self.vconvs[layer].at_row(v_in, i, p), layer, cond)
            cache[f"vpre_{layer}"] = v_pre  # [B, W, 2C]
            if layer + 1 < self.num_layers:
                cache[f"v_{layer + 1}"] = write_row(cache[f"v_{layer + 1}"], gate(v_pre), i, p)
        return cache

    def pixel_step(self, cache, i, j, cond=None):
        """The horizontal stack at (i, j), layer by layer, then the head."""
        p = self.buffer_pad
        cache = dict(cache)
        h = None
        for layer in range(self.num_layers):
            h_in = cache["x"] if layer == 0 else cache[f"h_{layer}"]
            if layer > 0:
                h_in = write_pixel(h_in, h, i, j, p)
                cache[f"h_{layer}"] = h_in
            v_pre = jax.lax.dynamic_index_in_dim(cache[f"vpre_{layer}"], j, axis=1,
                                                 keepdims=False)  # [B, 2C]
            h = self.horizontal_out(self.hconvs[layer].at_pixel(h_in, i, j, p), v_pre, h,
                                    layer, cond)
        return cache, self.output_head(h)


ARCHITECTURES = {"plain": PixelCNN, "gated": GatedPixelCNN, "pixelcnn_pp": PixelCNNPP}
RNNS = {"row": RowLSTM, "diagonal": DiagonalBiLSTM}
NUM_PIXEL_VALUES = 256  # the categories of an 8-bit image


# ----------------------------------------------------------------- from a config


def network_class(config):
    """The network class of a pixelcnn (`architecture`) or pixelrnn (`rnn`) config."""
    if config.family == "pixelrnn":
        return RNNS[config.rnn]
    return ARCHITECTURES[config.architecture]


def make_model(config):
    """The network of a pixelcnn / pixelrnn run over its dataset's images."""
    _, _, channels = data.image_shape(config)
    return network_class(config)(
        num_categories=NUM_PIXEL_VALUES, head=config.head, num_mixtures=config.num_mixtures,
        channels=config.hidden_channels, num_layers=config.num_layers,
        kernel_size=config.kernel_size, first_kernel_size=config.first_kernel_size,
        head_hidden=config.head_hidden,
        num_classes=data.num_classes(config) if config.conditional else 0,
        dropout_rate=config.dropout, image_channels=channels)


def class_onehot(config, labels):
    """The network's class input: one-hot labels [B, K], or None when the run
    is unconditional (or no labels are given)."""
    if not config.conditional or labels is None:
        return None
    return jax.nn.one_hot(labels, data.num_classes(config))
