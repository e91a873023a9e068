"""Datasets by name, each declaring what it holds (`specs.DatasetSpec`), and the
sources the engine trains on (`sources.py`: one dataset, or two composed as
paired, unpaired or domain-labelled mixture batches).

    spec(config)                  the DatasetSpec of a batch element of the run's source
    dataset_spec(config, side)    the spec of one named dataset (side "a": `dataset`,
                                  "b": `dataset_b`)
    load_split(config, split)     a split as a flat dict of numpy arrays [N, ...]
    make_iterator(config, split_data, batch_size, key, position)
                                  the resumable training iterator

Images stay uint8 [N, H, W, C] here: each family converts them on device to
the range it documents, so the host moves 4x fewer bytes.
"""
from __future__ import annotations

import importlib

from jaxgen.data.iterator import BatchIterator, epoch_permutation
from jaxgen.data.specs import KINDS, Dataset, DatasetSpec, Field, image_field, label_field
from jaxgen.errors import ConfigError, DatasetError

# Modules whose import registers datasets. Add a dataset module here.
_DATASET_MODULES = ("jaxgen.data.fashion_mnist", "jaxgen.data.toy2d",
                    "jaxgen.data.fashion_mnist_m", "jaxgen.data.edges2fashion",
                    "jaxgen.data.image_folder", "jaxgen.data.celeba", "jaxgen.data.text")
_REGISTRY: dict[str, Dataset] = {}

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# The data keys of base_config and their "not set" defaults; a dataset lists
# those it reads in `Dataset.config_keys`.
DATA_KEYS = {"data_path": "", "data_path_b": "", "image_size": 0, "channels": 0}


def register(dataset: Dataset) -> Dataset:
    if dataset.name in _REGISTRY:
        raise ValueError(f"dataset {dataset.name!r} registered twice")
    _REGISTRY[dataset.name] = dataset
    return dataset


def _import_all() -> None:
    for module in _DATASET_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # a real missing dependency, not an absent module
                raise


def known_datasets() -> tuple:
    _import_all()
    return tuple(sorted(_REGISTRY))


def get(name: str) -> Dataset:
    _import_all()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown dataset {name!r}; known datasets: "
                          f"{', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


from jaxgen.data.sources import (SOURCES, dataset_spec, first_batch, load_split,  # noqa: E402
                                 make_iterator, side_config, spec, train_data, validate)


def kind(config) -> str:
    return spec(config).kind


def image_shape(config) -> tuple:
    """(H, W, C) of the run's images, from the dataset's declaration."""
    return spec(config).image_shape


def num_classes(config) -> int:
    return spec(config).num_classes


def require_kind(config, who: str, *kinds: str) -> None:
    """Refuse a dataset of another kind with one clear message."""
    got = spec(config).kind
    if got not in kinds:
        raise ConfigError(f"{who} needs a dataset of kind {' or '.join(kinds)}; "
                          f"{config.dataset!r} holds {got}")


def require_image_dataset(config) -> None:
    require_kind(config, config.family, "images")


def require_labels(config, who: str) -> int:
    """The number of classes, or a clear error for an unlabelled dataset."""
    s = spec(config)
    if not s.labelled:
        raise ConfigError(f"{who} needs class labels; dataset {config.dataset!r} has none")
    return s.num_classes


__all__ = ["BatchIterator", "epoch_permutation", "Dataset", "DatasetSpec", "Field", "KINDS",
           "SOURCES", "image_field", "label_field", "register", "get", "known_datasets",
           "spec", "dataset_spec", "load_split", "first_batch", "train_data", "make_iterator", "side_config",
           "validate", "kind", "image_shape", "num_classes", "require_kind",
           "require_image_dataset", "require_labels", "FASHION_MNIST_CLASSES", "DATA_KEYS",
           "DatasetError"]
