"""PixelRNN with Row LSTM layers (van den Oord et al. 2016a), Flax Linen.

A mask-A k0 x k0 convolution, then Row LSTM layers with residual 1x1 outputs,
then the head. A Row LSTM layer runs an LSTM down the rows: the state of a
whole row is updated at once from

    gates(i) = K_is (*) x(i)  +  K_ss (*) h(i - 1)       [B, W, 4C]

where K_is is a masked 1 x k input-to-state convolution over the layer's
input on row i (mask B: columns <= j, so still causal after the mask-A
first layer) and K_ss an unmasked 1 x 3 state-to-state convolution over the
previous row's hidden state. The receptive field is a triangle above the
pixel plus the row to its left.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.autoregressive.layers import ARNetwork, dropout, layer_key
from jaxgen.nn.masked import TapConv, horizontal_taps, raster_causal_taps, row_taps, write_pixel

STATE_KERNEL = 3


def lstm_update(gates, c_prev):
    """Standard LSTM cell from pre-activations [..., 4C] -> (h, c), each [..., C]."""
    i, f, o, g = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c_prev + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c


class RowLSTM(ARNetwork):
    """PixelRNN (Row LSTM variant)."""

    def setup(self):
        c = self.channels
        self.first = TapConv(c, self.input_channels,
                             raster_causal_taps(self.first_kernel_size, include_center=False))
        self.input_to_state = [TapConv(4 * c, c, horizontal_taps(self.kernel_size, True))
                               for _ in range(self.num_layers)]
        self.state_to_state = [TapConv(4 * c, c, row_taps(STATE_KERNEL), use_bias=False)
                               for _ in range(self.num_layers)]
        self.outs = [nn.Dense(c) for _ in range(self.num_layers)]
        self.setup_common([4 * c] * self.num_layers)

    def residual_update(self, h, layer: int, dropout_key=None):
        return self.outs[layer](dropout(h, self.dropout_rate, layer_key(dropout_key, layer)))

    def row_lstm(self, x, layer: int, cond):
        """One Row LSTM layer over the whole grid: x [B, H, W, C] -> h [B, H, W, C]."""
        inputs = self.input_to_state[layer](x)  # [B, H, W, 4C], all rows at once
        inputs = inputs + self.cond_bias(cond, layer, inputs.ndim)
        b, _, w, c = x.shape

        def step(carry, row_inputs):  # row_inputs [B, W, 4C]
            h_prev, c_prev = carry
            recurrent = self.state_to_state[layer](h_prev[:, None])[:, 0]
            h, c_new = lstm_update(row_inputs + recurrent, c_prev)
            return (h, c_new), h

        zeros = jnp.zeros((b, w, self.channels), x.dtype)
        # A Python loop over rows, not lax.scan: Flax submodules inside scan
        # need nn.scan lifting; the unrolled 28 steps compile quickly.
        carry, rows = (zeros, zeros), []
        for i in range(x.shape[1]):
            carry, h = step(carry, inputs[:, i])
            rows.append(h)
        return jnp.stack(rows, axis=1)

    def from_features(self, x, cond=None, dropout_key=None):
        h = self.first(x)
        for layer in range(self.num_layers):
            h = h + self.residual_update(self.row_lstm(h, layer, cond), layer, dropout_key)
        return self.output_head(h)

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
        x = self.first.at_pixel(cache["x"], i, j, p)  # [B, C]
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
