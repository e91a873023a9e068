"""GAN generators and discriminators (Flax Linen).

Two architectures, chosen by `config.arch`:

- "mlp": the course's MLP GAN. G: Linear 100->256->512->1024->H*W*C, LeakyReLU(0.2),
  Tanh output; D: Linear H*W*C->1024->512->256->1, LeakyReLU(0.2) and Dropout(0.3)
  after each hidden layer. With other widths and a linear output it is also the
  MLP GAN of the 2-D mode-collapse lab.
- "dcgan": G: Dense -> [H / 2^n, W / 2^n, C0] -> BN, ReLU -> n stride-2 4x4
  transposed convs with BN and ReLU -> 3x3 conv -> Tanh (n = len(g_channels) - 1:
  28x28 starts at 7x7, 32x32 at 8x8); D: stride-2 4x4 convs with LeakyReLU(0.2)
  -> Dense(1), no normalisation in D (a gradient penalty needs a critic that
  treats examples independently). Up- and down-sampling use jaxgen.nn.fast_conv
  (same function as nn.ConvTranspose / nn.Conv, fast gradients on CPU).

Every output shape comes from the dataset's spec (`example_shape`): images
[H, W, C] of any size the generator's upsampling divides, or 2-D points [2].

Conditioning (cgan): G gets the one-hot class concatenated to z; D is a
projection discriminator (Miyato & Koyama 2018): logit = w . h(x) + embed(y) . h(x).
Packing (PacGAN): D sees `pack` samples at once, concatenated along features
(MLP) or channels (DCGAN) by `pack_samples`; the models just see wider inputs.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen import data
from jaxgen.nn import fast_conv, precision

LEAK = 0.2
ACTIVATIONS = ("leaky_relu", "relu")


def activation(name: str):
    if name == "leaky_relu":
        return lambda x: nn.leaky_relu(x, LEAK)
    if name == "relu":
        return nn.relu
    raise ValueError(f"unknown activation {name!r}; choose from {ACTIVATIONS}")


def pack_samples(x, pack: int):
    """PacGAN: [B, ...features, C] -> [B / pack, ...features, pack * C], the `pack`
    consecutive examples of each group side by side in the last axis."""
    if pack == 1:
        return x
    b = x.shape[0]
    grouped = x.reshape((b // pack, pack) + x.shape[1:])  # [B/p, p, ..., C]
    moved = jnp.moveaxis(grouped, 1, -2)  # [B/p, ..., p, C]
    return moved.reshape(moved.shape[:-2] + (pack * x.shape[-1],))


class ProjectionHead(nn.Module):
    """features [N, F] -> logits [N]: linear output plus, with labels, the class projection."""

    num_classes: int = 0
    dtype: Any = None  # compute dtype (jaxgen.nn.precision), in every model here

    @nn.compact
    def __call__(self, h, labels=None):
        logit = nn.Dense(1, name="out", dtype=self.dtype)(h)[:, 0]  # [N]
        if self.num_classes and labels is not None:
            embed = nn.Embed(self.num_classes, h.shape[-1], name="class_embed",
                             dtype=self.dtype)(labels)  # [N, F]
            logit = logit + jnp.sum(embed * h, axis=-1)
        return logit


def start_resolution(size: Sequence[int], num_channel_entries: int) -> tuple:
    """(h0, w0) = (H, W) / 2^(entries - 1): where the DCGAN generator starts so
    that its stride-2 upsamplings end exactly at the image size."""
    factor = 2 ** (num_channel_entries - 1)
    return tuple(s // factor for s in size)


class MLPGenerator(nn.Module):
    out_shape: Sequence[int]  # (H, W, C) of the dataset's images, or (2,) for points
    hidden: Sequence[int] = (256, 512, 1024)
    act: str = "leaky_relu"
    tanh_output: bool = True  # images in [-1, 1]; 2-D points are unbounded
    dtype: Any = None

    @nn.compact
    def __call__(self, z, onehot=None, train: bool = True):  # z [B, D] -> [B, *out_shape]
        del train  # no batch statistics in the MLP
        x = z if onehot is None else jnp.concatenate([z, onehot], axis=-1)
        for width in self.hidden:
            x = activation(self.act)(nn.Dense(width, dtype=self.dtype)(x))
        x = nn.Dense(math.prod(self.out_shape), dtype=self.dtype)(x)
        x = jnp.tanh(x) if self.tanh_output else x
        return x.reshape((z.shape[0],) + tuple(self.out_shape))


class MLPDiscriminator(nn.Module):
    hidden: Sequence[int] = (1024, 512, 256)
    act: str = "leaky_relu"
    dropout: float = 0.3
    num_classes: int = 0
    dtype: Any = None

    @nn.compact
    def __call__(self, x, labels=None, train: bool = True):  # x [N, ...] -> logits [N]
        h = x.reshape(x.shape[0], -1)
        for width in self.hidden:
            h = activation(self.act)(nn.Dense(width, dtype=self.dtype)(h))
            if self.dropout > 0:
                h = nn.Dropout(self.dropout, deterministic=not train)(h)
        return ProjectionHead(self.num_classes, dtype=self.dtype)(h, labels)


class DCGANGenerator(nn.Module):
    """z [B, D] -> images [B, H, W, C] in [-1, 1]; channels[0] at the start
    resolution [H / 2^n, W / 2^n], each of the n further entries one stride-2
    upsampling (three entries on 28x28: 7 -> 14 -> 28)."""

    out_shape: Sequence[int]  # (H, W, C) of the dataset's images
    channels: Sequence[int] = (128, 64, 32)
    bn_momentum: float = 0.9
    dtype: Any = None

    @nn.compact
    def __call__(self, z, onehot=None, train: bool = True):
        x = z if onehot is None else jnp.concatenate([z, onehot], axis=-1)
        height, width, out_channels = self.out_shape
        h0, w0 = start_resolution((height, width), len(self.channels))
        x = nn.Dense(h0 * w0 * self.channels[0], dtype=self.dtype)(x)
        x = x.reshape(z.shape[0], h0, w0, self.channels[0])  # [B, h0, w0, C0]
        x = nn.relu(self._norm(train)(x))
        for width_out in self.channels[1:]:
            x = fast_conv.ConvTranspose(width_out, kernel_size=4, stride=2,
                                        dtype=self.dtype)(x)  # 2x size
            x = nn.relu(self._norm(train)(x))
        return jnp.tanh(fast_conv.Conv(out_channels, kernel_size=3, stride=1,
                                       dtype=self.dtype)(x))  # [B, H, W, C]

    def _norm(self, train: bool):
        # Its statistics are computed in float32 and kept in float32 whatever dtype is.
        return nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                            dtype=self.dtype)


class DCGANDiscriminator(nn.Module):
    """images [N, H, W, C'] -> logits [N]; each channel entry one stride-2 conv."""

    channels: Sequence[int] = (32, 64)
    num_classes: int = 0
    dtype: Any = None

    @nn.compact
    def __call__(self, x, labels=None, train: bool = True):
        del train  # no dropout or normalisation in the critic
        for width in self.channels:
            x = nn.leaky_relu(fast_conv.Conv(width, kernel_size=4, stride=2, dtype=self.dtype)(x),
                              LEAK)
        h = x.reshape(x.shape[0], -1)  # [N, H/2^k * W/2^k * C]
        return ProjectionHead(self.num_classes, dtype=self.dtype)(h, labels)


def make_generator(config, out_shape, tanh_output: bool) -> nn.Module:
    dtype = precision.layer_dtype(config)
    if config.arch == "mlp":
        return MLPGenerator(hidden=tuple(config.g_hidden), out_shape=tuple(out_shape),
                            act=config.activation, tanh_output=tanh_output, dtype=dtype)
    return DCGANGenerator(channels=tuple(config.g_channels), out_shape=tuple(out_shape),
                          bn_momentum=config.bn_momentum, dtype=dtype)


def make_discriminator(config, num_classes: Optional[int]) -> nn.Module:
    dtype = precision.layer_dtype(config)
    if config.arch == "mlp":
        return MLPDiscriminator(hidden=tuple(config.d_hidden), act=config.activation,
                                dropout=config.d_dropout, num_classes=num_classes or 0,
                                dtype=dtype)
    return DCGANDiscriminator(channels=tuple(config.d_channels), num_classes=num_classes or 0,
                              dtype=dtype)


# --------------------------------------------------------------------------- applying them


def is_points(config) -> bool:
    """2-D toy data (kind "points"): unbounded outputs, no image conversion."""
    return data.kind(config) == "points"


def example_shape(config) -> tuple:
    """The shape of one generated example, from the dataset's spec: (H, W, C) or (2,)."""
    spec = data.spec(config)
    return tuple(spec.fields["point"].shape) if spec.kind == "points" else spec.image_shape


def num_classes(config):
    """K for the conditional GAN (labels into G and D), else None."""
    return data.num_classes(config) if config.conditional else None


def real_examples(config, batch):
    """The batch in model space: images uint8 -> [-1, 1] (G's tanh range); points as is."""
    if is_points(config):
        return batch["point"].astype(jnp.float32)  # [B, 2]
    return batch["image"].astype(jnp.float32) / 127.5 - 1.0  # [B, H, W, C]


def batch_labels(config, batch):
    return batch["label"].astype(jnp.int32) if config.conditional else None  # [B]


def latents(config, key, num: int):
    return jax.random.normal(key, (num, config.latent_dim))  # [num, latent_dim]


def generate(config, g_params, g_stats, z, labels, train: bool):
    """z [B, latent] -> (samples [B, *example_shape] in model space, batch stats).

    In training mode batch norm normalises with the batch's statistics and
    returns updated running averages; otherwise it uses the running averages.
    The samples are float32 whatever the compute dtype (losses read them).
    """
    model = make_generator(config, example_shape(config), tanh_output=not is_points(config))
    onehot = None if labels is None else jax.nn.one_hot(labels, num_classes(config))
    variables = {"params": g_params}
    if g_stats is None:
        return precision.to_float32(model.apply(variables, z, onehot, train=train)), None
    variables["batch_stats"] = g_stats
    if not train:
        return precision.to_float32(model.apply(variables, z, onehot, train=False)), g_stats
    x, updated = model.apply(variables, z, onehot, train=True, mutable=["batch_stats"])
    return precision.to_float32(x), updated["batch_stats"]


def discriminate_packed(config, d_params, packed, labels, key, train: bool):
    """D's raw outputs on already packed inputs [B / pack, ...], float32. [B / pack]"""
    model = make_discriminator(config, num_classes(config))
    return precision.to_float32(model.apply({"params": d_params}, packed, labels, train=train,
                                            rngs={"dropout": key} if train else {}))


def discriminate(config, d_params, x, labels, key, train: bool):
    """D's raw outputs on examples [B, ...], judged in packs of `pack`. [B / pack]"""
    return discriminate_packed(config, d_params, pack_samples(x, config.pack), labels, key, train)


def g_batch_stats(state):
    """The DCGAN generator's batch-norm running averages (None for the MLP)."""
    return None if state.extra is None else state.extra.get("g_batch_stats")


def d_vectors(state):
    """The power-iteration vectors of D's spectral norm (None without it)."""
    return None if state.extra is None else state.extra.get("d_spectral")
