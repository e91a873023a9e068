"""PixelCNN++'s network (Salimans et al. 2017): two causal streams in a U-Net.

Streams. Raster order, pixel (i, j) may depend only on earlier pixels. Two
feature maps are carried side by side:

- u ("down" stream): down-shifted convolutions, whose taps cover the window's
  rows above and the current row. The first layer reads only rows above, so
  u at (i, j) depends on input rows < i, and every later layer keeps that.
- ul ("down-right" stream): down-right-shifted convolutions, taps on the rows
  above and the current row, columns <= j. The first layer is mask A (rows
  above plus the current row to the left), so ul at (i, j) depends only on
  pixels before (i, j). Every ul block also receives u, which brings in the
  columns to the right of j on the rows above: the union has no blind spot.

Blocks are gated residual blocks:

    t = conv1(concat_elu(x)) + nin(concat_elu(shortcut))
    x + a * sigmoid(b),   [a, b] = conv2(dropout(concat_elu(t))) + class bias

with concat_elu(x) = elu([x, -x]) and nin a 1x1 layer.

U-Net. `num_levels` resolutions (3: 28 -> 14 -> 7). The downsampling pass
runs `num_layers` blocks per resolution and moves to the next one by a
stride-2 shifted convolution; every block output and every downsampled map
is stored. The upsampling pass runs `num_layers` blocks at the coarsest
resolution and `num_layers + 1` at the others, going back up by a causal
sub-pixel convolution; each of its blocks consumes one stored map (last
stored, first used) as its shortcut: u's shortcut is the stored u, ul's is
[u, stored ul]. So each stream has `(2 * num_layers + 1) * num_levels - 1`
blocks; the head reads ul at full resolution.

Resampling keeps the causal invariants. With stride s at a level, a coarse
pixel (m, n) stands for the fine pixel (s m, s n): u there depends on rows
< s m, ul on pixels before (s m, s n). A stride-2 down-shifted convolution
reads fine rows 2m - r .. 2m, its down-right twin also only columns <= 2n.
Upsampling computes fine pixel (2m + p, 2n + q) from coarse row m only
(columns n - r .. n + r for u, n - r .. n for ul) with weights of its own
phase (p, q): a convolution with 4C outputs, then depth-to-space. That is a
stride-2 transposed convolution written as a sub-pixel convolution (the
transposed convolution's weight gradient is slow on CPU, DESIGN.md), with
every phase given the whole window. Odd sizes are handled by rounding the
coarse grid up (ceil(H / 2)) and cropping the upsampled map back.

There is no cache API: sample with the naive sampler (family.validate
refuses sampler "cached" for this architecture).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.autoregressive.layers import ARNetwork, dropout, layer_key
from jaxgen.nn.masked import TapConv, Taps, raster_causal_taps, vertical_taps
from jaxgen.nn.upsample import depth_to_space

STRIDE = 2


# ----------------------------------------------------------------- tap sets


def down_taps(kernel_size: int) -> Taps:
    """Down-shifted window: rows -r..0, columns -r..r ([2, 3] for k = 3)."""
    return vertical_taps(kernel_size, include_current_row=True)


def down_right_taps(kernel_size: int) -> Taps:
    """Down-right-shifted window: rows -r..0, columns -r..0 ([2, 2] for k = 3)."""
    r = kernel_size // 2
    return tuple((di, dj) for di in range(-r, 1) for dj in range(-r, 1))


def up_taps(kernel_size: int, right: bool) -> Taps:
    """Coarse-grid taps of the upsampling: the same coarse row only, columns
    -r..r (u) or -r..0 (ul, which must not look right of its own column)."""
    r = kernel_size // 2
    return tuple((0, dj) for dj in range(-r, (r if right else 0) + 1))


# ----------------------------------------------------------------- pure pieces


def concat_elu(x):
    """[..., C] -> [..., 2C]: elu of x and of -x, so no sign is thrown away."""
    return jax.nn.elu(jnp.concatenate([x, -x], axis=-1))


def sigmoid_gate(pre):
    """PixelCNN++'s gate a * sigmoid(b) of [..., 2C] -> [..., C] (no tanh on a)."""
    a, b = jnp.split(pre, 2, axis=-1)
    return a * jax.nn.sigmoid(b)


def num_blocks(num_levels: int, num_layers: int) -> tuple[int, int]:
    """Blocks per stream in the (downsampling, upsampling) pass."""
    return num_levels * num_layers, num_levels * (num_layers + 1) - 1


# ----------------------------------------------------------------- layers


class SubpixelUpsample(nn.Module):
    """Causal stride-2 upsampling: a tap convolution on the coarse grid with one
    set of weights per output phase, then depth-to-space, cropped to (H, W)."""

    features: int
    taps: Taps

    def setup(self):
        self.conv = TapConv(STRIDE * STRIDE * self.features, self.features, self.taps)

    def __call__(self, x, height: int, width: int):  # [B, h, w, C] -> [B, H, W, C]
        return depth_to_space(self.conv(x), STRIDE)[:, :height, :width]


class GatedResidual(nn.Module):
    """PixelCNN++'s gated residual block over one tap set (see module docstring)."""

    channels: int
    taps: Taps
    shortcut: bool
    dropout_rate: float = 0.0

    def setup(self):
        c = self.channels
        self.conv_in = TapConv(c, 2 * c, self.taps)
        self.conv_out = TapConv(2 * c, 2 * c, self.taps)
        if self.shortcut:
            self.nin = nn.Dense(c, use_bias=False)  # conv_in's bias serves both

    def __call__(self, x, shortcut=None, bias=0.0, dropout_key=None):
        t = self.conv_in(concat_elu(x))  # [B, H, W, C]
        if self.shortcut:
            t = t + self.nin(concat_elu(shortcut))
        t = dropout(concat_elu(t), self.dropout_rate, dropout_key)  # [B, H, W, 2C]
        return x + sigmoid_gate(self.conv_out(t) + bias)


# ----------------------------------------------------------------- network


class PixelCNNPP(ARNetwork):
    """PixelCNN++: u / ul streams, gated residual blocks, a U-Net with shortcuts.

    num_layers: gated residual blocks per resolution in the downsampling pass
    (the upsampling pass has one more at every resolution but the coarsest).
    num_levels: resolutions; 3 turns 28x28 into 14x14 and 7x7. kernel_size:
    the shifted windows ([2, 3] and [2, 2] for 3); first_kernel_size: the
    first layers' windows (rows above for u, mask A for ul).
    """

    has_cache = False  # no per-pixel cache: every pixel changes the coarse maps

    num_levels: int = 3

    def setup(self):
        if self.num_levels < 1:
            raise ValueError(f"num_levels must be >= 1, got {self.num_levels}")
        c, k, k0 = self.channels, self.kernel_size, self.first_kernel_size
        rate = self.dropout_rate
        n_down, n_up = num_blocks(self.num_levels, self.num_layers)
        self.first_u = TapConv(c, self.input_channels,
                                   vertical_taps(k0, include_current_row=False))
        self.first_ul = TapConv(c, self.input_channels,
                                    raster_causal_taps(k0, include_center=False))
        # Downsampling-pass u blocks have no shortcut input; all the others do.
        self.u_blocks = [GatedResidual(c, down_taps(k), b >= n_down, rate)
                         for b in range(n_down + n_up)]
        self.ul_blocks = [GatedResidual(c, down_right_taps(k), True, rate)
                          for _ in range(n_down + n_up)]
        coarser = range(self.num_levels - 1)
        self.u_down = [TapConv(c, c, down_taps(k), stride=STRIDE) for _ in coarser]
        self.ul_down = [TapConv(c, c, down_right_taps(k), stride=STRIDE) for _ in coarser]
        self.u_up = [SubpixelUpsample(c, up_taps(k, right=True)) for _ in coarser]
        self.ul_up = [SubpixelUpsample(c, up_taps(k, right=False)) for _ in coarser]
        # Class biases on the gates: even indices u, odd ul.
        self.setup_common([2 * c] * (2 * (n_down + n_up)), first_width=c)

    def block(self, index: int, u, ul, skip, cond, dropout_key):
        """Block `index` of both streams; skip = stored (u, ul) or None."""
        u_skip, ul_skip = (None, None) if skip is None else skip
        u = self.u_blocks[index](u, u_skip, self.cond_bias(cond, 2 * index, u.ndim),
                                 layer_key(dropout_key, 2 * index))
        ul_in = u if ul_skip is None else jnp.concatenate([u, ul_skip], axis=-1)
        ul = self.ul_blocks[index](ul, ul_in, self.cond_bias(cond, 2 * index + 1, ul.ndim),
                                   layer_key(dropout_key, 2 * index + 1))
        return u, ul

    def from_features(self, x, cond=None, dropout_key=None):
        bias = self.channel_bias(x.shape[2])
        u, ul = self.first_u(x) + bias, self.first_ul(x) + bias  # [B, H, W, C] each
        stored = [(u, ul)]
        index = 0
        for level in range(self.num_levels):  # downsampling pass
            for _ in range(self.num_layers):
                u, ul = self.block(index, u, ul, None, cond, dropout_key)
                index += 1
                stored.append((u, ul))
            if level + 1 < self.num_levels:
                u, ul = self.u_down[level](u), self.ul_down[level](ul)  # [B, H/2, W/2, C]
                stored.append((u, ul))
        stored.pop()  # that is (u, ul) itself, where the upsampling pass starts
        for level in reversed(range(self.num_levels)):  # upsampling pass
            extra = 0 if level == self.num_levels - 1 else 1
            for _ in range(self.num_layers + extra):
                u, ul = self.block(index, u, ul, stored.pop(), cond, dropout_key)
                index += 1
            if level > 0:
                height, width = stored[-1][0].shape[1:3]  # the finer grid's size
                u = self.u_up[level - 1](u, height, width)  # [B, H, W, C]
                ul = self.ul_up[level - 1](ul, height, width)
        assert not stored and index == sum(num_blocks(self.num_levels, self.num_layers))
        return self.output_head(ul)  # [B, H, W, n_out]

    def init_cache(self, num: int, height: int, width: int):
        raise NotImplementedError(
            "pixelcnn_pp has no cached sampler (its U-Net recomputes coarse maps that "
            "every new pixel changes); sample with the naive sampler "
            "(--config.sampler=naive)")
