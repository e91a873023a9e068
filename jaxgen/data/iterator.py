"""A deterministic, resumable in-memory batch iterator.

Epoch e is shuffled by a permutation drawn from `fold_in(data_key, e)`, so the
order depends only on the key and the epoch, never on what ran before. The
position (epoch, index of the next batch within the epoch) is all the state
there is; it goes into every checkpoint, and an iterator built from a saved
position yields exactly the batches the uninterrupted run would have seen.
"""
from __future__ import annotations

from typing import Mapping

import jax
import numpy as np

from jaxgen.errors import ConfigError, DatasetError


def epoch_permutation(data_key, epoch: int, num_examples: int) -> np.ndarray:
    """The example order of one epoch, a pure function of (key, epoch)."""
    return np.asarray(jax.random.permutation(jax.random.fold_in(data_key, epoch), num_examples))


def checked_position(position, batches_per_epoch: int) -> tuple[int, int]:
    """(epoch, index) of a saved iterator position; one from a damaged or
    foreign checkpoint is refused rather than silently yielding other batches."""
    try:
        epoch, index = position["epoch"], position["index"]
    except (KeyError, TypeError):
        epoch = index = None
    if (not isinstance(epoch, int) or not isinstance(index, int) or epoch < 0
            or not 0 <= index <= batches_per_epoch):
        raise DatasetError(f"the saved data-iterator position {position!r} is out of "
                           f"range (epoch >= 0, index in 0..{batches_per_epoch}): the "
                           "checkpoint is damaged or of another dataset")
    return epoch, index


class BatchIterator:
    """Yields dicts of numpy arrays with a leading batch axis of `batch_size`.

    The last partial batch of an epoch is dropped, so every batch has the same
    shape and the train step compiles once.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], batch_size: int, data_key,
                 position: Mapping[str, int] | None = None):
        sizes = {name: len(a) for name, a in arrays.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"arrays differ in length: {sizes}")
        self._arrays = dict(arrays)
        self._num_examples = next(iter(sizes.values()))
        if not 0 < batch_size <= self._num_examples:
            raise ConfigError(f"batch_size={batch_size} must be in 1..{self._num_examples} "
                              "(the number of training examples)")
        self._batch_size = batch_size
        self._data_key = data_key
        position = position or {"epoch": 0, "index": 0}
        self._epoch, self._index = self._checked(position)
        self._order_epoch, self._order = None, None

    def _checked(self, position) -> tuple[int, int]:
        return checked_position(position, self.batches_per_epoch)

    @property
    def batches_per_epoch(self) -> int:
        return self._num_examples // self._batch_size

    @property
    def position(self) -> dict:
        """Where the next batch comes from; save it to resume exactly here."""
        return {"epoch": self._epoch, "index": self._index}

    def _order_of(self, epoch: int) -> np.ndarray:
        if self._order_epoch != epoch:
            self._order = epoch_permutation(self._data_key, epoch, self._num_examples)
            self._order_epoch = epoch
        return self._order

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        if self._index >= self.batches_per_epoch:
            self._epoch, self._index = self._epoch + 1, 0
        start = self._index * self._batch_size
        rows = self._order_of(self._epoch)[start:start + self._batch_size]
        self._index += 1
        return {name: a[rows] for name, a in self._arrays.items()}

    def next_stacked(self, count: int) -> dict:
        """`count` consecutive batches stacked on a new leading axis: [count, B, ...]."""
        batches = [next(self) for _ in range(count)]
        return {name: np.stack([b[name] for b in batches]) for name in batches[0]}
