"""engine.config.complete: configs saved by older jaxgen versions load and resume."""
import glob
import json
import os

import pytest

import jaxgen
from jaxgen import registry
from jaxgen.engine import config as config_lib
from jaxgen.engine.loop import train
from jaxgen.errors import ConfigError

from tiny_configs import tiny_overrides

HERE = os.path.dirname(__file__)
V1_FILES = sorted(glob.glob(os.path.join(HERE, "data", "config_v1", "*.json")))


def test_every_family_has_a_saved_version_1_config():
    saved = {os.path.basename(p)[:-5] for p in V1_FILES}
    assert saved <= set(registry.names())
    assert {"vae", "gan", "ddpm", "pixelcnn", "glow", "vqvae", "classifier"} <= saved


@pytest.mark.parametrize("path", V1_FILES, ids=lambda p: os.path.basename(p)[:-5])
def test_version_1_configs_complete_to_valid_current_ones(path):
    with open(path) as f:
        saved = config_lib.from_json(f.read())
    family = registry.get(saved.family)
    full = config_lib.complete(saved, family)
    assert full.config_version == config_lib.CONFIG_VERSION
    # Every current key is there: the completed config is a current one.
    assert set(config_lib.flatten(full.to_dict())) == set(
        config_lib.flatten(family.default_config().to_dict()))
    config_lib.validate_common(full)


def test_complete_is_the_identity_on_current_configs():
    for name in registry.names():
        config = config_lib.build_config(name)
        again = config_lib.complete(config_lib.from_json(config_lib.to_json(config)),
                                    registry.get(name))
        assert config_lib.flatten(again.to_dict()) == config_lib.flatten(config.to_dict())


def test_unknown_saved_key_and_future_version_are_refused():
    family = registry.get("vae")
    with pytest.raises(ConfigError, match="does not fit family vae"):
        config_lib.complete({"family": "vae", "config_version": 2, "latnet": 3}, family)
    with pytest.raises(ConfigError, match="upgrade jaxgen"):
        config_lib.complete({"family": "vae", "config_version": 99}, family)


def test_a_run_saved_before_a_key_was_added_resumes(tmp_path):
    """Drop keys from config.json as if the run had been saved before they
    existed: train resumes it (and the missing keys take their defaults)."""
    workdir = str(tmp_path / "run")
    values = tiny_overrides("vae", steps=1)
    train(config_lib.build_config("vae", overrides=values), workdir, progress=False)
    path = os.path.join(workdir, "config.json")
    with open(path) as f:
        saved = json.load(f)
    for added in ("dataset_b", "source", "data_path", "max_to_keep"):
        saved.pop(added)
    with open(path, "w") as f:
        json.dump(saved, f)
    train(config_lib.build_config("vae", overrides={**values, "steps": "2"}), workdir,
          progress=False)
    assert jaxgen.load(workdir).step == 2
