"""Datasets by name: Fashion-MNIST through TFDS, toy 2-D distributions from a key.

`load_arrays(config, split)` returns a dict of numpy arrays with a leading
example axis; `element_spec(config)` gives one example's shapes without
loading anything (used to rebuild a state template from a workdir).

Images stay uint8 [N, 28, 28, 1] here: each family converts them on device to
the range it documents, so the host moves 4x fewer bytes.
"""
from __future__ import annotations

import jax
import numpy as np

from jaxgen.data.iterator import BatchIterator, epoch_permutation
from jaxgen.errors import DatasetError

IMAGE_DATASETS = ("fashion_mnist",)
NUM_CLASSES = {"fashion_mnist": 10}
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# A toy "dataset" is a fixed pool drawn once from the data key; epochs reshuffle it.
TOY_POOL_SIZE = {"train": 100_000, "test": 10_000}


def _toy_names():
    from jaxgen.data import toy2d
    return toy2d.NAMES


def known_datasets() -> tuple:
    return IMAGE_DATASETS + tuple(_toy_names())


def is_toy(name: str) -> bool:
    return name in _toy_names()


def load_arrays(config, split: str) -> dict:
    name = config.dataset
    if name == "fashion_mnist":
        from jaxgen.data import fashion_mnist
        return fashion_mnist.load(split)
    if is_toy(name):
        from jaxgen.data import toy2d
        # The pool depends only on the seed and the split.
        key = jax.random.fold_in(jax.random.key(config.seed), 1 + ("train", "test").index(split))
        return {"point": np.asarray(toy2d.sample(name, key, TOY_POOL_SIZE[split]))}
    raise DatasetError(f"unknown dataset {name!r}; known datasets: {', '.join(known_datasets())}")


def require_image_dataset(config) -> None:
    """Families of image models refuse the 2-D toy datasets with a clear message."""
    if config.dataset not in IMAGE_DATASETS:
        from jaxgen.errors import ConfigError
        raise ConfigError(f"{config.family} needs an image dataset "
                          f"({', '.join(IMAGE_DATASETS)}), got {config.dataset!r}")


def element_spec(config) -> dict:
    """Shape and dtype of one example, keyed like `load_arrays`."""
    if config.dataset == "fashion_mnist":
        return {"image": jax.ShapeDtypeStruct((28, 28, 1), np.uint8),
                "label": jax.ShapeDtypeStruct((), np.int32)}
    if is_toy(config.dataset):
        return {"point": jax.ShapeDtypeStruct((2,), np.float32)}
    raise DatasetError(f"unknown dataset {config.dataset!r}; known datasets: "
                       f"{', '.join(known_datasets())}")


__all__ = ["BatchIterator", "epoch_permutation", "load_arrays", "element_spec",
           "known_datasets", "is_toy", "require_image_dataset", "NUM_CLASSES", "FASHION_MNIST_CLASSES"]
