"""Latent diffusion: the diffusion model lives in the latent space of a trained VAE.

The VAE run (config `latent_vae_workdir`) is loaded once at `init`; its
parameters go into `TrainState.extra["vae_params"]`, so they are part of the
checkpoint (a latent-diffusion run is self-contained and resumes exactly)
and are never trained. Training encodes each batch and diffuses one draw of
the VAE posterior q(z | x) (their mixture, the VAE's aggregate posterior, is
what the prior N(0, I) was pulled towards, so its scale is already ~1); sampling
draws latents by the reverse chain and returns the decoder's mean images.
"""
from __future__ import annotations

import functools
import os

import jax

from jaxgen.errors import ConfigError
from jaxgen.vae import losses as vae_losses


@functools.lru_cache(maxsize=4)
def load_vae(workdir: str):
    """The VAE run in `workdir` (jaxgen.load), cached: init and the state template
    of `jaxgen.load` both ask for it."""
    import jaxgen
    if not os.path.isdir(workdir):
        raise ConfigError(f"latent_vae_workdir {workdir!r} is not a directory; train a VAE "
                          "first (e.g. experiments/vae/vae_latent32.py)")
    # `init` runs under jit (and `jaxgen.load`'s template under eval_shape): read
    # the checkpoint eagerly so its arrays are concrete constants, not tracers.
    with jax.ensure_compile_time_eval():
        run = jaxgen.load(workdir)
    if run.config.family != "vae":
        raise ConfigError(f"latent_vae_workdir {workdir!r} holds a {run.config.family!r} run; "
                          "latent diffusion needs a `vae` run")
    if run.config.conditional:
        raise ConfigError("latent diffusion needs an unconditional VAE (its decoder would "
                          "need labels); got a conditional one")
    return run


def latent_dim(workdir: str) -> int:
    return load_vae(workdir).config.latent_dim


def encode_sample(workdir: str, vae_params, pixels, key):
    """uint8 images [B, 28, 28, 1] -> one draw of q(z | x). [B, D]"""
    from jaxgen.vae import family as vae
    config = load_vae(workdir).config
    mean, log_var = vae.encode(config, vae_params, pixels)
    return vae_losses.reparameterize(key, mean, log_var)


def decode_images(workdir: str, vae_params, z):
    """Latents [B, D] -> the decoder's mean images [B, 28, 28, 1] in [0, 1]."""
    from jaxgen.vae import family as vae
    return vae.decode_mean(load_vae(workdir).config, vae_params, z)
