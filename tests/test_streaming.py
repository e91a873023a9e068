"""Streaming through grain over array_record (jaxgen/data/streaming.py): the
streamed batches are the in-memory iterator's batches (an independent
reference: the in-memory path decodes into one array), a resumed stream
continues exactly, process shares partition every global batch, and a
streamed CLI run, interrupted and resumed, trains what the in-memory run trains."""
import os

import jax
import numpy as np
import pytest

import jaxgen
from jaxgen import data
from jaxgen.data import streaming
from jaxgen.engine import config as config_lib
from jaxgen.engine.images import read_metrics
from jaxgen.engine.loop import train
from jaxgen.errors import ConfigError, DatasetError

from conftest import TINY_VAE, run_cli, without_wall_clock, write_rgb32_folder

SIZE = 8  # tiny images: what is tested is the order of the examples, not their pixels


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_rgb32_folder(str(tmp_path_factory.mktemp("stream_images")), per_class=11)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXGEN_DATA_DIR", str(tmp_path / "cache"))


def folder_config(folder, streaming_on=True):
    c = config_lib.base_config()
    c.dataset, c.data_path, c.image_size, c.channels = "image_folder", folder, SIZE, 3
    c.streaming = streaming_on
    return c


def take(iterator, n):
    return [next(iterator) for _ in range(n)]


def assert_same_batches(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert sorted(g) == sorted(w)
        for name in w:
            np.testing.assert_array_equal(g[name], w[name])


def streamed(config, batch_size, key, position=None, **kw):
    sides = data.train_data(config)
    return streaming.StreamIterator(sides["stream"], batch_size, key, position, **kw)


def in_memory(config, batch_size, key):
    return data.BatchIterator(data.load_split(folder_config(config.data_path, False), "train"),
                              batch_size, key)


def test_streamed_batches_are_the_in_memory_batches_and_resume_exactly(folder):
    config, key = folder_config(folder), jax.random.key(7)
    reference = take(in_memory(config, 8, key), 9)  # 30 train images: 3 batches an epoch
    stream = streamed(config, 8, key)
    assert stream.batches_per_epoch == 3
    assert_same_batches(take(stream, 9), reference)
    for done in (2, 3, 4):  # inside an epoch, at its end, inside the next
        first = streamed(config, 8, key)
        take(first, done)
        resumed = streamed(config, 8, key, first.position)
        assert_same_batches(take(resumed, 9 - done), reference[done:])
    stacked = streamed(config, 8, key, {"epoch": 1, "index": 1}).next_stacked(3)
    np.testing.assert_array_equal(stacked["image"],
                                  np.stack([b["image"] for b in reference[4:7]]))


def test_the_conversion_runs_once_and_a_changed_folder_is_converted_again(folder, tmp_path):
    import shutil
    own = shutil.copytree(folder, str(tmp_path / "own"))
    config = folder_config(own)
    first = data.train_data(config)["stream"].folder
    stamp = os.stat(os.path.join(first, "meta.json")).st_mtime_ns
    assert data.train_data(config)["stream"].folder == first
    assert os.stat(os.path.join(first, "meta.json")).st_mtime_ns == stamp
    os.remove(os.path.join(own, "class_0", "000.png"))
    assert data.train_data(config)["stream"].folder != first
    assert len(data.train_data(config)["stream"]) == 29


def test_process_shares_partition_each_global_batch(folder):
    config, key = folder_config(folder), jax.random.key(3)
    order = data.epoch_permutation(key, 0, 30)
    shares = [streaming.process_rows(order, 8, p, 2) for p in range(2)]
    # Disjoint, and together the epoch's 3 full batches, each example once.
    assert not set(shares[0]) & set(shares[1])
    assert sorted(np.concatenate(shares)) == sorted(order[:24])
    reference = take(in_memory(config, 8, key), 6)
    parts = [take(streamed(config, 8, key, process_index=p, process_count=2), 6)
             for p in range(2)]
    for whole, a, b in zip(reference, *parts):
        assert len(a["image"]) == len(b["image"]) == 4
        for name in whole:  # process 0's rows, then process 1's: the global batch
            np.testing.assert_array_equal(np.concatenate([a[name], b[name]]), whole[name])


def test_streaming_refusals(folder):
    config = folder_config(folder)
    with pytest.raises(DatasetError, match="position"):
        streamed(config, 8, jax.random.key(0), {"epoch": 0, "index": 4})
    with pytest.raises(ConfigError, match="processes"):
        streamed(config, 9, jax.random.key(0), process_index=0, process_count=2)
    fashion = config_lib.base_config()
    fashion.streaming = True
    with pytest.raises(ConfigError, match="cannot be streamed"):
        data.validate(fashion)


def test_streamed_cli_run_resumed_equals_the_in_memory_run(folder, tmp_path):
    tiny = {**TINY_VAE, "batch_size": "8", "dataset": "image_folder", "data_path": folder,
            "image_size": "16", "channels": "3", "eval_every": "100", "sample_every": "100"}
    straight = str(tmp_path / "straight")
    train(config_lib.build_config("vae", overrides=tiny), straight, progress=False)
    resumed = str(tmp_path / "resumed")
    # Streamed to step 4 (checkpoints at 3 and 4), then resumed to step 6 by the CLI.
    train(config_lib.build_config("vae", overrides={**tiny, "steps": "4", "streaming": "True"}),
          resumed, progress=False)
    run_cli("train", "vae", "--workdir", resumed, "--no-progress",
            *[f"--config.{k}={v}" for k, v in tiny.items()], "--config.streaming=True",
            env={"JAXGEN_DATA_DIR": str(tmp_path / "cache")})
    rows = lambda w: without_wall_clock(  # noqa: E731
        r for r in read_metrics(os.path.join(w, "metrics.jsonl")) if r["split"] == "train")
    assert [r["step"] for r in rows(straight)] == [2, 4, 6]
    assert rows(resumed) == rows(straight)
    for a, b in zip(jax.tree.leaves(jaxgen.load(resumed).state),
                    jax.tree.leaves(jaxgen.load(straight).state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_celeba_streams_its_attributes_with_its_images(tmp_path):
    from test_image_folder import mini_celeba
    mini_celeba(tmp_path, num=16, partition=False)  # 15 train images, every tenth a test one
    config, in_memory_config = folder_config(str(tmp_path)), folder_config(str(tmp_path), False)
    config.dataset = in_memory_config.dataset = "celeba"
    key = jax.random.key(1)
    reference = data.BatchIterator(data.load_split(in_memory_config, "train"), 4, key)
    got = take(streamed(config, 4, key), 5)
    assert sorted(got[0]) == ["attributes", "image"]
    assert_same_batches(got, take(reference, 5))
