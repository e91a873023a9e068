"""Frozen components: a trained run used as a fixed part of another model
(latent diffusion's VAE, a VQ-VAE prior's stage-1 autoencoder).

The one way a family builds on another family's trained run. The component
is read once per process and cached; its parameters should be copied into
the new run's TrainState (`extra`) at init, so the new run's checkpoints
hold the whole model and resume without the component's workdir.
"""
from __future__ import annotations

import functools
import os

import jax

from jaxgen.errors import ConfigError


@functools.lru_cache(maxsize=8)
def load_component(workdir: str, families: tuple, config_key: str):
    """The trained run in `workdir` (a jaxgen.engine.run.Run), which must be of
    one of `families`; `config_key` names the key that pointed here, for errors."""
    from jaxgen.engine.run import load  # the run loader lives above the families
    from jaxgen.errors import JaxgenError

    if not workdir or not os.path.isdir(workdir):
        raise ConfigError(f"{config_key}={workdir!r} is not a directory: it must be the "
                          f"workdir of a trained {' or '.join(families)} run")
    # Init runs under jit (and jaxgen.load's state template under eval_shape):
    # read the checkpoint eagerly so its arrays are concrete, not tracers.
    with jax.ensure_compile_time_eval():
        try:
            run = load(workdir)
        except JaxgenError as err:
            raise ConfigError(f"{config_key}={workdir!r}: {err}") from err
    if run.config.family not in families:
        raise ConfigError(f"{config_key}={workdir!r} holds a {run.config.family!r} run; "
                          f"it must be a {' or '.join(families)} run")
    return run
