"""Configs: family defaults, an optional config file, then KEY=VALUE overrides.

Every key a run may use exists in its family's `default_config()`; anything
else is a typo and is refused with the list of known keys. Values given on the
command line are parsed to the type of the default they replace.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os

import ml_collections

from jaxgen.errors import ConfigError


# Version of the config layout. A saved config.json without `config_version`
# is version 1 (before the data keys, `optim` and the renamed width keys);
# `complete` translates it. Bump when a key is renamed or changes meaning.
CONFIG_VERSION = 2


def base_config() -> ml_collections.ConfigDict:
    """The keys every family has (DESIGN.md, "Command line")."""
    c = ml_collections.ConfigDict()
    c.config_version = CONFIG_VERSION
    c.family = ""
    c.seed = 0
    # Data (jaxgen.data): which dataset(s) and how they are composed.
    c.dataset = "fashion_mnist"
    c.source = "single"          # or "paired", "unpaired", "mixture" (data/sources.py)
    c.dataset_b = ""             # the second dataset of a two-dataset source
    c.data_path = ""             # image_folder / text_file: where the files are
    c.data_path_b = ""           # the same for dataset_b
    c.image_size = 0             # image_folder: side of the square images (0: 32)
    c.channels = 0               # image_folder: 1 (grey) or 3 (RGB) (0: 3)
    c.streaming = False          # image_folder/celeba: stream the train split from
                                 # array_record shards through grain (data/streaming.py)
    c.batch_size = 100
    c.steps = 6000
    c.log_every = 100
    c.sample_every = 1000
    c.ckpt_every = 1000
    c.eval_every = 1000
    c.eval_batches = 10          # test batches averaged by the periodic eval
    c.steps_per_call = 1         # >1 fuses that many train steps into one lax.scan
    c.num_grid = 64              # images in each periodic sample grid
    # Sample metrics during training (`jaxgen eval --metrics` at intervals):
    # rows of split "metrics" in metrics.jsonl with the training seconds so far,
    # so the curve of FID against wall time is in the run. 0: never.
    c.metrics_every = 0
    c.metrics = "fid"            # comma-separated, as `jaxgen eval --metrics`
    c.metrics_num = 2000         # samples per periodic evaluation
    c.max_to_keep = 3            # checkpoints kept on disk
    # Scale (engine/sharding.py): parameters and optimizer state split over an
    # `fsdp` mesh axis of this size (1: replicated, pure data parallel), and
    # the dtype the networks compute in (parameters stay float32).
    c.fsdp = 1
    c.compute_dtype = "float32"  # or "bfloat16" (families that declare it)
    return c


def load_config_file(path: str) -> ml_collections.ConfigDict:
    """Run `get_config()` from a Python config file (as in experiments/)."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    spec = importlib.util.spec_from_file_location("_jaxgen_config_file", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # a config file is user code: report, don't crash
        raise ConfigError(f"config file {path} failed to load: {err}") from err
    if not hasattr(module, "get_config"):
        raise ConfigError(f"config file {path} defines no get_config()")
    return module.get_config()


def flatten(d, prefix="") -> dict:
    out = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, (dict, ml_collections.ConfigDict)):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _known_keys_message(config) -> str:
    return "known keys: " + ", ".join(sorted(flatten(config.to_dict())))


def _parse_value(text: str, default):
    """Parse a command-line string to the type of the value it replaces."""
    if isinstance(default, bool):
        lowered = text.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValueError(f"expected true/false, got {text!r}")
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    if isinstance(default, str):
        return text
    try:  # tuples, lists, None
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _set(config, dotted_key: str, value, *, from_string: bool) -> None:
    *parents, leaf = dotted_key.split(".")
    node = config
    for part in parents:
        if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
            raise ConfigError(f"unknown config key {dotted_key!r}; {_known_keys_message(config)}")
        node = node[part]
    if leaf not in node:
        raise ConfigError(f"unknown config key {dotted_key!r}; {_known_keys_message(config)}")
    default = node[leaf]
    if from_string:
        try:
            value = _parse_value(value, default)
        except ValueError as err:
            raise ConfigError(f"bad value for config key {dotted_key!r}: {err}") from err
    elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if default is not None and value is not None and type(value) is not type(default) \
            and not (isinstance(default, (tuple, list)) and isinstance(value, (tuple, list))):
        raise ConfigError(f"config key {dotted_key!r} expects {type(default).__name__}, "
                          f"got {value!r}")
    with node.unlocked():
        node[leaf] = value


def parse_overrides(items: list[str]) -> dict:
    """['model.latent_dim=2', ...] -> {'model.latent_dim': '2', ...} (values still strings)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form KEY=VALUE")
        out[key] = value
    return out


def apply_overrides(config, overrides: dict, *, from_string: bool = True):
    config = ml_collections.ConfigDict(config.to_dict())
    for key, value in overrides.items():
        _set(config, key, value, from_string=from_string)
    return config


def build_config(family_name: str | None = None, config_file: str | None = None,
                 overrides: dict | None = None) -> ml_collections.ConfigDict:
    """defaults of the family <- config file <- overrides, each key checked."""
    from jaxgen import registry

    file_config = load_config_file(config_file) if config_file else None
    file_family = file_config.get("family") if file_config is not None else None
    override_family = (overrides or {}).get("family")
    named = [n for n in (family_name, override_family, file_family) if n]
    if not named:
        raise ConfigError("no family given: name one (jaxgen train FAMILY) or use a config "
                          f"file that sets `family`; families: {', '.join(registry.names())}")
    if len(set(named)) > 1:
        raise ConfigError(f"conflicting families given: {sorted(set(named))}")
    family = registry.get(named[0])
    config = family.default_config()
    config.family = family.name
    if file_config is not None:
        config = apply_overrides(config, flatten(file_config.to_dict()), from_string=False)
    config = apply_overrides(config, overrides or {})
    validate_common(config)
    return config


def validate_common(config) -> None:
    from jaxgen import data
    data.validate(config)
    for key in ("batch_size", "steps_per_call", "log_every", "sample_every",
                "ckpt_every", "eval_every", "num_grid"):
        if config[key] < 1:
            raise ConfigError(f"config key {key!r} must be >= 1, got {config[key]}")
    if config.steps < 0:
        raise ConfigError(f"config key 'steps' must be >= 0, got {config.steps}")
    if config.metrics_every < 0 or config.metrics_num < 2:
        raise ConfigError("config keys 'metrics_every' (0: never) and 'metrics_num' must be "
                          f">= 0 and >= 2, got {config.metrics_every} and {config.metrics_num}")
    if config.max_to_keep < 1:  # 0 would delete every checkpoint as it is written
        raise ConfigError(f"config key 'max_to_keep' must be >= 1 (checkpoints kept on disk), "
                          f"got {config.max_to_keep}")
    check_seed(config.seed, "config key 'seed'")
    check_scale(config)


COMPUTE_DTYPES = ("float32", "bfloat16")


def check_scale(config) -> None:
    """`fsdp` >= 1 (that it divides the device count is checked where the mesh
    is built) and a `compute_dtype` the family computes in."""
    if config.fsdp < 1:
        raise ConfigError(f"config key 'fsdp' must be >= 1 (1: replicated parameters), "
                          f"got {config.fsdp}")
    if config.compute_dtype not in COMPUTE_DTYPES:
        raise ConfigError(f"config key 'compute_dtype' must be one of {COMPUTE_DTYPES}, "
                          f"got {config.compute_dtype!r}")
    if config.compute_dtype != "float32":
        from jaxgen import registry
        family = registry.get(config.family)
        if config.compute_dtype not in family.compute_dtypes:
            able = [n for n in registry.names()
                    if config.compute_dtype in registry.get(n).compute_dtypes]
            raise ConfigError(f"family {family.name} computes in float32 only; "
                              f"compute_dtype={config.compute_dtype} is wired for: "
                              f"{', '.join(able) or 'none'}")


def check_seed(seed: int, what: str = "--seed") -> None:
    """jax.random.key takes a signed 64-bit seed; a larger one is an OverflowError deep inside."""
    if not -2 ** 63 <= seed < 2 ** 63:
        raise ConfigError(f"{what} must fit in 64 bits (-2**63 .. 2**63 - 1), got {seed}")


def rename_keys(flat: dict, renames: dict) -> dict:
    """Translate old flat key names to new ones (for a family's upgrade_config)."""
    return {renames.get(key, key): value for key, value in flat.items()}


def complete(saved, family) -> ml_collections.ConfigDict:
    """A saved run's config made whole for today's code.

    Keys renamed since the run was saved are translated (the family's
    `upgrade_config`, given the flat saved keys and their version); keys
    added since take their defaults. Both `train`'s resume check and
    `jaxgen.load` read a workdir's config through here, so adding a config
    key never blocks a resume. A saved key that today's family does not know
    is a ConfigError naming it.
    """
    flat = flatten(saved.to_dict() if hasattr(saved, "to_dict") else dict(saved))
    version = flat.pop("config_version", 1)
    if not isinstance(version, int) or version > CONFIG_VERSION:
        raise ConfigError(f"the saved config has config_version {version!r}; this jaxgen "
                          f"reads versions up to {CONFIG_VERSION}: upgrade jaxgen")
    if version < CONFIG_VERSION and family.upgrade_config is not None:
        flat = family.upgrade_config(dict(flat), version)
    config = family.default_config()
    config.family = family.name
    try:
        config = apply_overrides(config, flat, from_string=False)
    except ConfigError as err:
        raise ConfigError(f"the saved config does not fit family {family.name}: {err}") from err
    return config


def to_json(config) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=list)


def from_json(text: str) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(json.loads(text))
