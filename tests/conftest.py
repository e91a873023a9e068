"""Shared test helpers: tiny configs that train in seconds on 2 CPU cores."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

# The suite's cost is mostly XLA compiling many tiny programs, not running
# them: skipping LLVM's optimisation passes cuts compile time by about a third
# (measured on two compile-bound tests: 36.5 -> 24.1 s of CPU). Set before jax
# starts a backend; subprocesses (run_cli) inherit it. The programs compute the
# same functions, only less optimised code.
os.environ["XLA_FLAGS"] = " ".join(
    [os.environ.get("XLA_FLAGS", ""), "--xla_backend_optimization_level=0"]).strip()

from jaxgen.engine import config as config_lib  # noqa: E402

# Compiled programs are cached on disk for the whole session (and its
# subprocesses): the suite compiles the same tiny programs many times (a
# resumed run, a second family with the same networks).
_CACHE = os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                               os.path.join(os.path.expanduser("~"), ".cache", "jaxgen",
                                            "test-xla-cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

# Small networks, a small batch and few steps: what is tested is the
# machinery, not the quality of the model.
TINY_VAE = {"enc_channels": "(4, 8, 8)", "dec_channels": "(8, 8, 4)", "batch_size": "8",
            "steps": "6", "log_every": "2", "eval_every": "3", "sample_every": "3",
            "ckpt_every": "3", "eval_batches": "2", "num_grid": "4", "iwae_samples": "4"}


def tiny_config(family: str = "vae", **overrides):
    values = dict(TINY_VAE)
    if family != "vae":
        values.pop("iwae_samples")
    values.update({k: str(v) for k, v in overrides.items()})
    return config_lib.build_config(family, overrides=values)


def without_wall_clock(rows):
    """metrics.jsonl rows without the values that time the machine (an exact
    resume logs the same rows but for these)."""
    from jaxgen.engine.images import WALL_CLOCK_KEYS
    return [{k: v for k, v in r.items() if k not in WALL_CLOCK_KEYS} for r in rows]


def run_cli(*args, env=None, check=True):
    """Run `python -m jaxgen.cli ARGS` in a fresh process (as a user would)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    result = subprocess.run([sys.executable, "-m", "jaxgen.cli", *args], capture_output=True,
                            text=True, env=full_env)
    if check and result.returncode != 0:
        raise AssertionError(f"jaxgen {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def tiny():
    return tiny_config


# A folder of 32x32 RGB PNGs in class sub-folders, written once per session:
# every image family must train on it (the real image_folder loading code)
# with no change beyond the config.
RGB32_CLASSES = 3


def write_rgb32_folder(root: str, per_class: int = 12) -> str:
    """Blocky random colour images in root/class_k/, the tenth of each class a test image."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for k in range(RGB32_CLASSES):
        folder = os.path.join(root, f"class_{k}")
        os.makedirs(folder, exist_ok=True)
        for i in range(per_class):
            coarse = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
            coarse[..., k] = 255  # the class shows in one colour channel
            image = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)  # [32, 32, 3]
            Image.fromarray(image).save(os.path.join(folder, f"{i:03d}.png"))
    return root


@pytest.fixture(scope="session")
def rgb32_overrides(tmp_path_factory):
    """Config overrides that point a run at the session's 32x32 RGB image folder."""
    root = write_rgb32_folder(str(tmp_path_factory.mktemp("rgb32")))
    return {"dataset": "image_folder", "data_path": root, "image_size": "32", "channels": "3"}


# The same kind of images as a dataset held in memory, for unit tests that
# need a 32x32 RGB labelled dataset without files (registered on import).
RGB32_DATASET = "test_rgb32"


def _rgb32_arrays(config, split):
    import numpy as np
    rng = np.random.default_rng(("train", "test").index(split))
    num = 64 if split == "train" else 16
    coarse = rng.integers(0, 256, (num, 4, 4, 3)).astype(np.uint8)  # blocky colour images
    images = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)  # [N, 32, 32, 3]
    labels = (coarse.reshape(num, -1).sum(1) % 10).astype(np.int32)
    return {"image": images, "label": labels}


def _register_rgb32():
    from jaxgen import data
    from jaxgen.data.specs import Dataset, DatasetSpec, image_field, label_field
    if RGB32_DATASET in data.known_datasets():
        return
    spec = DatasetSpec(name=RGB32_DATASET, kind="images",
                       fields={"image": image_field(32, 32, 3), "label": label_field(10)},
                       num_classes=10, class_names=tuple(str(k) for k in range(10)))
    data.register(Dataset(name=RGB32_DATASET, description="random 32x32 RGB blocks (tests)",
                          spec=lambda config: spec, load=_rgb32_arrays))


_register_rgb32()
