"""The batch iterator: deterministic, a permutation per epoch, resumable."""
import jax
import numpy as np
import pytest

from jaxgen.data import BatchIterator
from jaxgen.errors import ConfigError

ARRAYS = {"x": np.arange(23), "y": np.arange(23) * 10}


def take(iterator, n):
    return [next(iterator) for _ in range(n)]


def test_same_key_same_batches_different_key_different_batches():
    a = take(BatchIterator(ARRAYS, 5, jax.random.key(0)), 9)
    b = take(BatchIterator(ARRAYS, 5, jax.random.key(0)), 9)
    c = take(BatchIterator(ARRAYS, 5, jax.random.key(1)), 9)
    assert all(np.array_equal(p["x"], q["x"]) for p, q in zip(a, b))
    assert not all(np.array_equal(p["x"], q["x"]) for p, q in zip(a, c))


def test_each_epoch_is_a_permutation_and_epochs_differ():
    it = BatchIterator(ARRAYS, 5, jax.random.key(0))
    assert it.batches_per_epoch == 4  # 23 // 5: the partial batch is dropped
    epoch0 = np.concatenate([b["x"] for b in take(it, 4)])
    epoch1 = np.concatenate([b["x"] for b in take(it, 4)])
    for epoch in (epoch0, epoch1):
        assert len(set(epoch.tolist())) == 20  # no example twice within an epoch
    assert not np.array_equal(epoch0, epoch1)


def test_fields_stay_aligned():
    for batch in take(BatchIterator(ARRAYS, 4, jax.random.key(2)), 7):
        np.testing.assert_array_equal(batch["y"], batch["x"] * 10)


def test_resume_from_position_gives_the_same_batches():
    full = take(BatchIterator(ARRAYS, 5, jax.random.key(3)), 11)
    first = BatchIterator(ARRAYS, 5, jax.random.key(3))
    take(first, 6)
    assert first.position == {"epoch": 1, "index": 2}
    resumed = take(BatchIterator(ARRAYS, 5, jax.random.key(3), first.position), 5)
    for p, q in zip(full[6:], resumed):
        np.testing.assert_array_equal(p["x"], q["x"])


def test_next_stacked_equals_consecutive_batches():
    single = take(BatchIterator(ARRAYS, 5, jax.random.key(4)), 6)
    stacked = BatchIterator(ARRAYS, 5, jax.random.key(4)).next_stacked(6)
    assert stacked["x"].shape == (6, 5)
    np.testing.assert_array_equal(stacked["x"], np.stack([b["x"] for b in single]))


def test_batch_larger_than_dataset_is_refused():
    with pytest.raises(ConfigError, match="batch_size"):
        BatchIterator(ARRAYS, 24, jax.random.key(0))
