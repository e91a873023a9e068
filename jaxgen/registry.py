"""Family name -> Family: the one table the engine and the command line read.

A family is a bundle of pure functions (see DESIGN.md, "Family protocol").
Family packages register themselves on import; `get` imports them lazily so
`jaxgen list` stays fast and a family's heavy imports are paid only when used.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
from typing import Any, Callable, Mapping, Optional

from jaxgen.errors import ConfigError

# Modules whose import registers families. Add a family group here.
_FAMILY_MODULES = ("jaxgen.vae.family", "jaxgen.classifier.family", "jaxgen.diffusion.family",
                   "jaxgen.flows.family", "jaxgen.gan.family",
                   "jaxgen.autoregressive.family", "jaxgen.vqvae.family",
                   "jaxgen.dann.family", "jaxgen.translation.family",
                   "jaxgen.text.family", "jaxgen.hvae.family",
                   "jaxgen.diffusion.ddgan.family", "jaxgen.vaegan.family",
                   "jaxgen.stylegan.family")


LIKELIHOOD_KINDS = ("exact", "bound", "dequantized bound")


@dataclasses.dataclass(frozen=True)
class Phase:
    """A stretch of training with its own config values (progressive growing's
    resolutions, a two-stage model's stages): steps [start, end) run with the
    run's config updated by `overrides` (flat KEY -> value), jitted once per phase.
    The last phase may have end None: it runs to the end of the run, whatever
    `steps` is (which may change when a run is resumed)."""

    name: str
    end: Optional[int] = None
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Family:
    """The protocol every family implements (DESIGN.md, "Family protocol").

    default_config() -> ml_collections.ConfigDict
    init(config, key, sample_batch) -> TrainState
    train_step(config, state, batch, key) -> (state, metrics)       pure; jitted by the engine
    sample(config, state, key, num, cond=None) -> images in [0, 1], NHWC   (None: does not generate)
        cond: None, an int class, an [num] label array, or a batch dict
    log_likelihood(config, state, batch, key) -> log p(x) (or its lower bound) in nats
        per example, [B]; where tractable
    likelihood_kind(config) -> "exact" | "bound" | "dequantized bound" | None: what
        log_likelihood is (None: the run has no likelihood of its data, e.g. a
        Bernoulli decoder on grey levels); drives the shared `nll` evaluation
    eval_step(config, state, batch, key) -> metrics                 (cheap periodic eval)
    evaluations: name -> fn(run, key, num) -> dict: the family's own `jaxgen eval`
        metrics; the shared ones (nll, sample_time, fid, kid, is, pr, modes) come
        from jaxgen.metrics
    pictures(run, key, outdir) -> list of written files             (family-specific plots)
    network_evals(config) -> network evaluations per sampled example (default 1)
    phases(config) -> list of Phase (default: one phase over all steps)
    phase_start(config, state, phase_index) -> state: applied before a phase's first
        step (fresh or resumed), e.g. to copy a grown block's weights
    upgrade_config(flat_saved_config, version) -> flat config: translate the keys of
        a config saved by an older jaxgen (engine.config.complete)
    conditional(config) -> bool: whether `sample` reads `cond`
    train_log(config, state) -> dict: values from the state added to every train row of
        metrics.jsonl (hvae: the count of skipped updates); it may raise a JaxgenError
        to stop the run (the last checkpoint is kept)
    """

    name: str
    description: str
    default_config: Callable[[], Any]
    init: Callable
    train_step: Callable
    sample: Optional[Callable] = None  # None: the family does not generate (classifier)
    log_likelihood: Optional[Callable] = None
    likelihood_kind: Optional[Callable] = None
    eval_step: Optional[Callable] = None
    evaluations: Mapping[str, Callable] = dataclasses.field(default_factory=dict)
    pictures: Optional[Callable] = None
    network_evals: Optional[Callable] = None
    phases: Optional[Callable] = None
    phase_start: Optional[Callable] = None
    upgrade_config: Optional[Callable] = None
    conditional: Optional[Callable] = None
    train_log: Optional[Callable] = None
    cpu_note: str = ""  # for `jaxgen list`: which experiments/ config suits a 2-core CPU
    # The config's `compute_dtype` values whose networks this family builds
    # (float32 parameters always); any other is refused (engine.config).
    compute_dtypes: tuple = ("float32",)

    def kind_of_likelihood(self, config) -> Optional[str]:
        if self.log_likelihood is None or self.likelihood_kind is None:
            return None
        return self.likelihood_kind(config)

    def run_phases(self, config) -> list:
        if self.phases is None:
            return [Phase("train")]
        return list(self.phases(config))

    def is_conditional(self, config) -> bool:
        return bool(self.conditional(config)) if self.conditional is not None else False


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


# `jaxgen list` reads the families from this file instead of importing them
# (which imports jax: seconds). tests/test_first_contact.py checks that it
# equals the registry; `python -m jaxgen.registry` rewrites it.
INDEX_PATH = os.path.join(os.path.dirname(__file__), "families.json")


def listing() -> list[dict]:
    """name, description and cpu_note of every registered family."""
    return [{"name": n, "description": get(n).description, "cpu_note": get(n).cpu_note}
            for n in names()]


def read_index() -> list[dict]:
    """The families as of the last `python -m jaxgen.registry` (no family import)."""
    try:
        with open(INDEX_PATH) as f:
            return json.load(f)
    except (OSError, ValueError):
        return listing()


def write_index(path: str = INDEX_PATH) -> None:
    with open(path, "w") as f:
        json.dump(listing(), f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    # Run as a script this file is `__main__`; the families register in the
    # imported `jaxgen.registry`, so write from that one.
    from jaxgen import registry as _registry
    _registry.write_index()
    print(f"wrote {_registry.INDEX_PATH}")
