"""Family name -> Family: the one table the engine and the command line read.

A family is a bundle of pure functions (see DESIGN.md, "Family protocol").
Family packages register themselves on import; `get` imports them lazily so
`jaxgen list` stays fast and a family's heavy imports are paid only when used.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Mapping, Optional

from jaxgen.errors import ConfigError

# Modules whose import registers families. Add a family group here.
_FAMILY_MODULES = ("jaxgen.vae.family", "jaxgen.classifier.family", "jaxgen.diffusion.family",
                   "jaxgen.flows.family", "jaxgen.gan.family",
                   "jaxgen.autoregressive.family", "jaxgen.vqvae.family")


@dataclasses.dataclass(frozen=True)
class Family:
    """The protocol every family implements.

    default_config() -> ml_collections.ConfigDict
    init(config, key, sample_batch) -> TrainState
    train_step(config, state, batch, key) -> (state, metrics)       pure; jitted by the engine
    sample(config, state, key, num, cond=None) -> images in [0, 1], NHWC   (None: does not generate)
    log_likelihood(config, state, batch, key) -> nats per example   (where tractable)
    eval_step(config, state, batch, key) -> metrics                 (cheap periodic eval)
    evaluations: name -> fn(run, key, num) -> dict of metric values (for `jaxgen eval`)
    pictures(run, key, outdir) -> list of written files             (family-specific plots)
    """

    name: str
    description: str
    default_config: Callable[[], Any]
    init: Callable
    train_step: Callable
    sample: Optional[Callable] = None  # None: the family does not generate (classifier)
    log_likelihood: Optional[Callable] = None
    eval_step: Optional[Callable] = None
    evaluations: Mapping[str, Callable] = dataclasses.field(default_factory=dict)
    pictures: Optional[Callable] = None


_REGISTRY: dict[str, Family] = {}


def register(family: Family) -> Family:
    if family.name in _REGISTRY:
        raise ValueError(f"family {family.name!r} registered twice")
    _REGISTRY[family.name] = family
    return family


def _import_all() -> None:
    for module in _FAMILY_MODULES:
        importlib.import_module(module)


def names() -> list[str]:
    _import_all()
    return sorted(_REGISTRY)


def get(name: str) -> Family:
    _import_all()
    if name not in _REGISTRY:
        raise ConfigError(
            f"unknown family {name!r}; known families: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]
