"""Latent diffusion: the diffusion model lives in the latent space of a trained VAE.

The VAE run (config `latent_vae_workdir`) is read through the engine's
frozen-component loader (`jaxgen.engine.components.load_component`); at
`init` its parameters go into `TrainState.extra["vae_params"]`, so they are
part of the checkpoint (a latent-diffusion run is self-contained and resumes
exactly) and are never trained. Training encodes each batch and diffuses one
draw of the VAE posterior q(z | x) (their mixture, the VAE's aggregate
posterior, is what the prior N(0, I) was pulled towards, so its scale is
already ~1); sampling draws latents by the reverse chain and returns the
decoder's mean images.

This is the one module of the ddpm family that reads the `vae` family: it
calls that family's public `encode` and `decode_mean` functions of a
trained run (building on a run, not sharing mathematics).
"""
from __future__ import annotations

from jaxgen import data
from jaxgen.engine.components import load_component
from jaxgen.errors import ConfigError
from jaxgen.nn.distributions import reparameterize

CONFIG_KEY = "latent_vae_workdir"


def load_vae(workdir: str):
    """The trained, unconditional `vae` run in `workdir` (cached by the loader)."""
    run = load_component(workdir, ("vae",), CONFIG_KEY)
    if run.config.conditional:
        raise ConfigError(f"{CONFIG_KEY}={workdir!r} holds a conditional VAE: latent "
                          "diffusion needs an unconditional one (its decoder would need labels)")
    return run


def check_images_match(config) -> None:
    """The run's images must be the images the VAE was trained to encode."""
    vae_config = load_vae(config.latent_vae_workdir).config
    ours, theirs = data.image_shape(config), data.image_shape(vae_config)
    if ours != theirs:
        raise ConfigError(f"{CONFIG_KEY}: the VAE encodes images of shape {theirs} "
                          f"({vae_config.dataset}); this run's dataset {config.dataset!r} "
                          f"holds {ours}")


def latent_dim(workdir: str) -> int:
    return int(load_vae(workdir).config.latent_dim)


def vae_params(workdir: str):
    return load_vae(workdir).state.params


def encode_sample(workdir: str, params, pixels, key):
    """uint8 images [B, H, W, C] -> one draw of q(z | x). [B, D]"""
    from jaxgen.vae import models as vae_models  # imported on use: `jaxgen list` stays light
    mean, log_var = vae_models.encode(load_vae(workdir).config, params, pixels)
    return reparameterize(key, mean, log_var)


def decode_images(workdir: str, params, z):
    """Latents [B, D] -> the decoder's mean images [B, H, W, C] in [0, 1]."""
    from jaxgen.vae import sampling as vae_sampling
    return vae_sampling.decode_mean(load_vae(workdir).config, params, z)
