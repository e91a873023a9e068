"""The parts of a `ddpm` run that its config and dataset choose: the space it
diffuses, the denoising network and the noise schedule.

Three data spaces, one model:

    image    the dataset's images, any H x W x C, as floats in [-1, 1] (U-Net)
    point    2-D points (the toy datasets), as they are (MLP denoiser)
    latent   with `latent_vae_workdir`: one posterior draw of a trained VAE's
             latent for each image (MLP denoiser; samples decoded by the VAE)

Every shape comes from the dataset's declaration (`jaxgen.data.spec`).
"""
from __future__ import annotations

import jax.numpy as jnp

from jaxgen import data
from jaxgen.diffusion import latent, losses, schedules
from jaxgen.diffusion.models import MLPDenoiser, UNet
from jaxgen.nn import precision

KINDS = ("image", "point", "latent")


def data_kind(config) -> str:
    """'latent', 'point' (2-D toy data) or 'image'."""
    if config.latent_vae_workdir:
        return "latent"
    return "point" if data.kind(config) == "points" else "image"


def num_classes(config) -> int:
    """K for a conditional model (labels 0..K-1, K meaning "no label"), else 0."""
    return data.num_classes(config) if config.conditional else 0


def data_shape(config) -> tuple:
    """Shape of one diffused example: (H, W, C), (2,) or (latent_dim,)."""
    kind = data_kind(config)
    if kind == "latent":
        return (latent.latent_dim(config.latent_vae_workdir),)
    if kind == "point":
        return tuple(data.spec(config).fields["point"].shape)
    return data.image_shape(config)


def to_diffusion_space(config, state, batch, key):
    """A batch -> the vectors the model diffuses: images [B, H, W, C] in [-1, 1],
    VAE latents [B, D] (one posterior draw from `key`), or points [B, 2]."""
    kind = data_kind(config)
    if kind == "latent":
        return latent.encode_sample(config.latent_vae_workdir, state.extra["vae_params"],
                                    batch["image"], key)
    if kind == "point":
        return batch["point"]
    return losses.pixels_to_data(batch["image"])


def from_diffusion_space(config, state, x):
    """Generated vectors -> images [N, H, W, C] in [0, 1] (or points [N, 2])."""
    kind = data_kind(config)
    if kind == "latent":
        return latent.decode_images(config.latent_vae_workdir, state.extra["vae_params"], x)
    return x if kind == "point" else losses.data_to_unit(x)


def make_model(config):
    dtype = precision.layer_dtype(config)
    if data_kind(config) == "image":
        return UNet(channels=config.base_channels, channel_mults=tuple(config.channel_mults),
                    num_res_blocks=config.num_res_blocks, attention=config.attention,
                    num_classes=num_classes(config), conv=config.conv, dtype=dtype)
    return MLPDenoiser(width=config.mlp_width, num_blocks=config.mlp_blocks,
                       num_classes=num_classes(config), dtype=dtype)


def make_apply(config):
    """(params, x_t, t, labels) -> the network's output in float32, whatever the
    compute dtype: losses, the bound and the sampling chain read it."""
    apply = make_model(config).apply
    return lambda params, *args: precision.to_float32(apply(params, *args))


def make_schedule(config) -> schedules.Schedule:
    return schedules.make_schedule(config.schedule, config.num_timesteps, config.beta_start,
                                   config.beta_end)


def model_params(config, state):
    """The weights that sample and evaluate: the EMA unless sample_with_ema=False."""
    return state.ema_params if config.sample_with_ema else state.params


def null_labels(config, num: int):
    """[num] labels "none" (index K) for a conditional model, None otherwise."""
    if not config.conditional:
        return None
    return jnp.full((num,), num_classes(config), jnp.int32)
