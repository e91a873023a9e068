"""Built datasets cached on disk as uint8 arrays, written atomically.

Datasets that jaxgen builds itself (Fashion-MNIST-M, edges2fashion, a user's
image folder decoded and resized) are built once and stored as one
uncompressed .npz file per split, so later loads take a fraction of a second.

Where: `$JAXGEN_DATA_DIR/arrays` when JAXGEN_DATA_DIR is set (the variable
that also moves Fashion-MNIST's TFDS data dir), else `~/.cache/jaxgen/arrays`.
A file is written to a temporary name in the same folder and renamed into
place, so a build that is interrupted never leaves a half-written file that a
later load would trust.
"""
from __future__ import annotations

import os
import tempfile
import zipfile

import numpy as np

from jaxgen.errors import DatasetError

DATA_DIR_ENV = "JAXGEN_DATA_DIR"
DEFAULT_CACHE_DIR = "~/.cache/jaxgen/arrays"


def cache_dir() -> str:
    data_dir = os.environ.get(DATA_DIR_ENV)
    if data_dir:
        return os.path.join(os.path.expanduser(data_dir), "arrays")
    return os.path.expanduser(DEFAULT_CACHE_DIR)


def cache_path(*parts: str) -> str:
    """A file under the cache dir, e.g. cache_path("fashion_mnist_m", "v1_train.npz")."""
    return os.path.join(cache_dir(), *parts)


def save(path: str, arrays: dict) -> str:
    """Write `arrays` to `path` (.npz) via a temporary file and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is readable like any file
        os.replace(tmp, path)  # atomic on one file system
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load(path: str) -> dict | None:
    """The arrays stored at `path`, or None when there is no such file."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DatasetError(f"the cached dataset file {path} is unreadable ({err}); "
                           f"delete it and it will be rebuilt") from err


def load_or_build(path: str, build) -> dict:
    """The cached arrays at `path`, building and saving them first if absent."""
    arrays = load(path)
    if arrays is None:
        arrays = build()
        save(path, arrays)
    return arrays
