"""PixelRNN (van den Oord et al. 2016a): Row LSTM and Diagonal BiLSTM, Flax Linen.

Both variants: a mask-A k0 x k0 convolution, then recurrent layers with
residual 1x1 outputs (h += W1x1 dropout(lstm(h))), then the head.

A Row LSTM layer runs an LSTM down the rows: the state of a whole row is
updated at once from

    gates(i) = K_is (*) x(i)  +  K_ss (*) h(i - 1)       [B, W, 4C]

where K_is is a masked 1 x k input-to-state convolution over the layer's
input on row i (mask B: columns <= j, so still causal after the mask-A
first layer) and K_ss an unmasked 1 x 3 state-to-state convolution over the
previous row's hidden state. The receptive field is a triangle above the
pixel plus the row to its left.

A Diagonal BiLSTM layer runs an LSTM along the diagonals instead. Skewing
the map (row i shifted right by i, [B, H, W + H - 1, C]) turns each diagonal
into a column, and the column LSTM's state at skewed (i, k) reads the
previous column at rows i - 1 and i, i.e. original pixels (i - 1, j) and
(i, j - 1):

    gates(k) = K_is (*) x(k)  +  K_ss (*) h(k - 1)       [B, H, 4C]

with K_is a mask-B 1x1 convolution and K_ss a 2x1 convolution over the rows
of the previous column. The state at (i, j) thus sees the whole quadrant
above and to the left. A second direction runs on the column-flipped map
(quadrant above and to the right, current row included); its output map is
shifted down one row before the two are added, so pixel (i, j) reads it from
row i - 1 only. Together they cover every earlier pixel after one layer
(no blind spot, no triangle) but one: (i - 1, W - 1), seen from row i only at
columns >= W - 1 - r through the mask-A window of radius r, at any depth,
since no layer's features at a pixel depend on that pixel (brute-force test
in tests/test_autoregressive.py). Its cached sampler is not implemented (it
would run the right-to-left pass over row i - 1 once that row is complete, in
row_step, and the left-to-right states pixel by pixel); sample it naively.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.autoregressive.layers import ARNetwork, dropout, layer_key
from jaxgen.nn.masked import (TapConv, horizontal_taps, raster_causal_taps, row_taps, shift,
                              write_pixel)

STATE_KERNEL = 3
# The Diagonal LSTM's state-to-state, applied to a skewed column laid out as
# [B, H, 1, C]: rows i - 1 and i of the previous column (a 2x1 kernel).
DIAGONAL_STATE_TAPS = ((-1, 0), (0, 0))


def lstm_update(gates, c_prev):
    """Standard LSTM cell from pre-activations [..., 4C] -> (h, c), each [..., C]."""
    i, f, o, g = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c_prev + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c


def lstm_sweep(gate_inputs, recurrent, valid=None):
    """An LSTM stepping along axis 1 of gate_inputs [B, T, N, 4C], the N
    positions of one step updated at once -> hidden states [B, T, N, C].

    recurrent(h [B, N, C]) -> [B, N, 4C] is the state-to-state term from the
    previous step's hidden state (zero state before step 0); it runs inside
    lax.scan, so any Flax layer it calls must exist already (`scan_ready`).
    valid [T, N] (0/1, optional) marks the positions inside the image; the
    others keep a zero state, like the zero padding of a convolution.
    """
    b, t, n, four_c = gate_inputs.shape
    if valid is None:
        valid = np.ones((t, n), np.float32)

    def step(carry, xs):
        inputs, keep = xs  # [B, N, 4C], [N]
        h, c = lstm_update(inputs + recurrent(carry[0]), carry[1])
        h, c = h * keep[:, None], c * keep[:, None]
        return (h, c), h

    zeros = jnp.zeros((b, n, four_c // 4), gate_inputs.dtype)
    # lax.scan, not a Python loop: compile time independent of T (an unrolled
    # 55-column Diagonal BiLSTM took minutes to compile with its gradient).
    _, hidden = jax.lax.scan(step, (zeros, zeros),
                             (jnp.swapaxes(gate_inputs, 0, 1), jnp.asarray(valid)))
    return jnp.swapaxes(hidden, 0, 1)  # [B, T, N, C]


def scan_ready(conv: TapConv) -> TapConv:
    """`conv`, safe to call inside a lax.scan body: a Flax layer may read its
    parameters inside a JAX transform but not create them (at init), so its
    setup is triggered here, outside, by reading the kernel."""
    conv.kernel  # noqa: B018 (attribute access runs the layer's setup)
    return conv


def skew(x):
    """[B, H, W, C] -> [B, H, W + H - 1, C], row i shifted right by i (zeros
    elsewhere): skewed[:, i, i + j] = x[:, i, j], so diagonals become columns.

    Pad each row to W + H, flatten the rows, drop the last H entries and
    re-read with rows of W + H - 1: entry (i, j) at flat index
    i (W + H) + j = i (W + H - 1) + (i + j) lands in row i, column i + j."""
    b, h, w, c = x.shape
    flat = jnp.pad(x, ((0, 0), (0, 0), (0, h), (0, 0))).reshape(b, h * (w + h), c)
    return flat[:, :h * (w + h - 1)].reshape(b, h, w + h - 1, c)


def unskew(s, width: int):
    """Inverse of `skew`: [B, H, W + H - 1, C] -> [B, H, W, C], x[:, i, j] =
    s[:, i, i + j]. The same flat-index identity read the other way round."""
    b, h, skewed_width, c = s.shape
    flat = jnp.pad(s.reshape(b, h * skewed_width, c), ((0, 0), (0, h), (0, 0)))
    return flat.reshape(b, h, skewed_width + 1, c)[:, :, :width]


def skewed_validity(height: int, width: int):
    """[W + H - 1, H] float 0/1, column-major: skewed column k of row i holds
    an image pixel iff i <= k < i + W."""
    k = np.arange(width + height - 1)[:, None]
    i = np.arange(height)[None, :]
    return ((k >= i) & (k < i + width)).astype(np.float32)


class PixelRNN(ARNetwork):
    """What both PixelRNN variants share: the mask-A first layer, the
    residual 1x1 outputs and the forward; subclasses give `recurrent_layer`."""

    def setup_pixelrnn(self, cond_widths):
        """Create the first layer, the outputs and the shared parts. Call from `setup`."""
        c = self.channels
        self.first = TapConv(c, self.input_channels,
                             raster_causal_taps(self.first_kernel_size, include_center=False))
        self.outs = [nn.Dense(c) for _ in range(self.num_layers)]
        self.setup_common(cond_widths, first_width=c)

    def residual_update(self, h, layer: int, dropout_key=None):
        return self.outs[layer](dropout(h, self.dropout_rate, layer_key(dropout_key, layer)))

    def recurrent_layer(self, x, layer: int, cond):
        """x [B, H, W, C] -> hidden states [B, H, W, C] of layer `layer`."""
        raise NotImplementedError

    def from_features(self, x, cond=None, dropout_key=None):
        h = self.first(x) + self.channel_bias(x.shape[2])  # [B, H, W, C]
        for layer in range(self.num_layers):
            h = h + self.residual_update(self.recurrent_layer(h, layer, cond), layer, dropout_key)
        return self.output_head(h)


class RowLSTM(PixelRNN):
    """PixelRNN (Row LSTM variant)."""

    def setup(self):
        c = self.channels
        self.input_to_state = [TapConv(4 * c, c, horizontal_taps(self.kernel_size, True))
                               for _ in range(self.num_layers)]
        self.state_to_state = [TapConv(4 * c, c, row_taps(STATE_KERNEL), use_bias=False)
                               for _ in range(self.num_layers)]
        self.setup_pixelrnn([4 * c] * self.num_layers)

    def recurrent_layer(self, x, layer: int, cond):
        """One Row LSTM layer over the whole grid: x [B, H, W, C] -> h [B, H, W, C]."""
        inputs = self.input_to_state[layer](x)  # [B, H, W, 4C], all rows at once
        inputs = inputs + self.cond_bias(cond, layer, inputs.ndim)
        conv = scan_ready(self.state_to_state[layer])
        return lstm_sweep(inputs, lambda h_prev: conv(h_prev[:, None])[:, 0])  # h_prev [B, W, C]

    def init_cache(self, num: int, height: int, width: int):
        """in_l: layer l's input grid; hidden_l, cell_l: its LSTM state grids."""
        cache = {"x": self.input_buffer(num, height, width)}
        for layer in range(self.num_layers):
            for name in ("in", "hidden", "cell"):
                cache[f"{name}_{layer}"] = self.zero_buffer(num, height, width, self.channels)
        return cache

    def pixel_step(self, cache, i, j, cond=None):
        """Every layer's LSTM state at (i, j) from the row above (complete) and
        the current row's inputs up to column j."""
        p = self.buffer_pad
        cache = dict(cache)
        x = self.first.at_pixel(cache["x"], i, j, p) + self.channel_bias_at(j)  # [B, C]
        for layer in range(self.num_layers):
            name_in, name_h, name_c = f"in_{layer}", f"hidden_{layer}", f"cell_{layer}"
            cache[name_in] = write_pixel(cache[name_in], x, i, j, p)
            gates = (self.input_to_state[layer].at_pixel(cache[name_in], i, j, p)
                     + self.cond_bias(cond, layer, 2)
                     # Row i - 1 of the hidden state (zero padding above row 0).
                     + self.state_to_state[layer].at_pixel(cache[name_h], i - 1, j, p))
            c_prev = jax.lax.dynamic_slice_in_dim(cache[name_c], i - 1 + p, 1, axis=1)
            c_prev = jax.lax.dynamic_index_in_dim(c_prev[:, 0], j + p, axis=1, keepdims=False)
            h, c = lstm_update(gates, c_prev)
            cache[name_h] = write_pixel(cache[name_h], h, i, j, p)
            cache[name_c] = write_pixel(cache[name_c], c, i, j, p)
            x = x + self.residual_update(h, layer)
        return cache, self.output_head(x)


class DiagonalBiLSTM(PixelRNN):
    """PixelRNN (Diagonal BiLSTM variant): (nearly) full causal context per layer.

    Per layer and direction (index 2 * layer + direction, 0 = left-to-right):
    a mask-B 1x1 input-to-state and a 2x1 state-to-state convolution.
    `kernel_size` is unused (both kernels are fixed by the construction).
    """

    has_cache = False  # the right-to-left pass needs the whole row before any pixel

    def setup(self):
        c, n = self.channels, 2 * self.num_layers
        self.input_to_state = [TapConv(4 * c, c, horizontal_taps(1, include_center=True))
                               for _ in range(n)]
        self.state_to_state = [TapConv(4 * c, c, DIAGONAL_STATE_TAPS, use_bias=False)
                               for _ in range(n)]
        self.setup_pixelrnn([4 * c] * n)

    def diagonal_lstm(self, x, index: int, cond):
        """One left-to-right Diagonal LSTM: x [B, H, W, C] -> h [B, H, W, C],
        h at (i, j) a function of x at (i', j') with i' <= i and j' <= j.

        The 1x1 input-to-state runs before skewing (it commutes with the skew;
        the skew's padding only ever holds zero states), on W columns, not
        W + H - 1."""
        _, height, width, _ = x.shape
        inputs = self.input_to_state[index](x)  # [B, H, W, 4C]
        inputs = inputs + self.cond_bias(cond, index, inputs.ndim)
        columns = jnp.swapaxes(skew(inputs), 1, 2)  # [B, W + H - 1, H, 4C]
        conv = scan_ready(self.state_to_state[index])
        hidden = lstm_sweep(columns, lambda h_prev: conv(h_prev[:, :, None])[:, :, 0],  # [B, H, C]
                            skewed_validity(height, width))  # [B, W + H - 1, H, C]
        return unskew(jnp.swapaxes(hidden, 1, 2), width)  # [B, H, W, C]

    def recurrent_layer(self, x, layer: int, cond):
        """Both directions of one Diagonal BiLSTM layer: x [B, H, W, C] -> [B, H, W, C].

        The right-to-left pass is the left-to-right one on the column-flipped
        map, flipped back: its state at (i, j) sees row i from column j on,
        so the map moves down one row (row 0 gets zeros) before the sum."""
        left = self.diagonal_lstm(x, 2 * layer, cond)
        right = jnp.flip(self.diagonal_lstm(jnp.flip(x, axis=2), 2 * layer + 1, cond), axis=2)
        return left + shift(right, -1, 0)  # shift: out[:, i] = right[:, i - 1]

    def init_cache(self, num: int, height: int, width: int):
        raise NotImplementedError("DiagonalBiLSTM has no cached sampler; use sampler='naive' "
                                  "(--config.sampler=naive)")
