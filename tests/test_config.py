"""Config building: defaults <- file <- overrides, every key checked."""
import pytest

from jaxgen.engine import config as config_lib
from jaxgen.errors import ConfigError


def test_overrides_are_parsed_to_the_default_type():
    c = config_lib.build_config("vae", overrides={
        "latent_dim": "32", "optim.learning_rate": "3e-4", "conditional": "true",
        "enc_channels": "(8, 16, 16)", "likelihood": "logistic"})
    assert c.latent_dim == 32 and isinstance(c.latent_dim, int)
    assert c.optim.learning_rate == pytest.approx(3e-4)
    assert c.conditional is True
    assert tuple(c.enc_channels) == (8, 16, 16)
    assert c.likelihood == "logistic"


@pytest.mark.parametrize("overrides,message", [
    ({"latent_dimm": "3"}, "unknown config key 'latent_dimm'"),
    ({"latent_dim": "two"}, "bad value for config key 'latent_dim'"),
    ({"conditional": "maybe"}, "expected true/false"),
    ({"dataset": "cifar10"}, "unknown dataset"),
    ({"batch_size": "0"}, "must be >= 1"),
])
def test_bad_overrides_are_refused_with_a_clear_message(overrides, message):
    with pytest.raises(ConfigError, match=message):
        config_lib.build_config("vae", overrides=overrides)


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown family 'vea'.*vae"):
        config_lib.build_config("vea")


def test_config_file_sets_family_and_values(tmp_path):
    path = tmp_path / "cfg.py"
    path.write_text("import ml_collections\n"
                    "def get_config():\n"
                    "    c = ml_collections.ConfigDict()\n"
                    "    c.family = 'vae'\n"
                    "    c.latent_dim = 7\n"
                    "    return c\n")
    c = config_lib.build_config(None, str(path), {"seed": "3"})
    assert (c.family, c.latent_dim, c.seed) == ("vae", 7, 3)
    with pytest.raises(ConfigError, match="conflicting families"):
        config_lib.build_config("autoencoder", str(path))


def test_config_file_with_unknown_key_is_refused(tmp_path):
    path = tmp_path / "cfg.py"
    path.write_text("import ml_collections\n"
                    "def get_config():\n"
                    "    return ml_collections.ConfigDict({'family': 'vae', 'latnet': 2})\n")
    with pytest.raises(ConfigError, match="unknown config key 'latnet'"):
        config_lib.build_config(None, str(path))


def test_missing_config_file_and_bad_override_syntax():
    with pytest.raises(ConfigError, match="not found"):
        config_lib.build_config(None, "/nonexistent/cfg.py")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        config_lib.parse_overrides(["latent_dim"])


def test_experiment_configs_build():
    import glob
    import os
    root = os.path.join(os.path.dirname(__file__), "..", "experiments")
    files = sorted(glob.glob(os.path.join(root, "*", "*.py")))
    # Config files define get_config(); scripts beside them may only mention it.
    files = [f for f in files if "\ndef get_config(" in open(f).read()]
    assert files, "experiments/ holds config files"
    for path in files:
        config_lib.build_config(None, path)
