"""Datasets larger than memory, streamed through grain over array_record.

    jaxgen train vae --config.dataset=image_folder --config.data_path=DIR \\
        --config.streaming=True

With `streaming` on, the training split of an `image_folder` (or `celeba`)
is converted once into array_record shards in the data cache (decoded,
resized and cropped exactly as the in-memory path decodes it), and training
reads its batches from those shards through a grain pipeline: a random-access
source, a map that decodes a record, a batch, read ahead on a few threads.
Nothing but the epoch's order of example indices is held in memory.

Order, sharding and resume:

- Epoch e visits the examples in `epoch_permutation(data_key, e, N)`, the very
  permutation the in-memory `BatchIterator` uses, and global batch j of the
  epoch is rows j*B .. (j+1)*B of it (the partial last batch dropped). So a
  streamed run sees the same batches as the in-memory run of the same config.
- With P processes, process p reads only its contiguous B/P rows of every
  global batch, the share `jax.make_array_from_process_local_data` expects
  from it: the processes together read each example of an epoch once.
- The position {"epoch", "index" (of the next global batch)} is the
  iterator's whole state, saved in every checkpoint like the in-memory
  iterator's; a resumed iterator builds epoch e's pipeline and starts it at
  batch `index` (grain slices a MapDataset without reading what it skips).

The shards: `array_cache.cache_dir()/streams/<dataset>/<key>/`, key a digest
of the files (paths, sizes, modification times) and the decoding settings;
`meta.json` is written last into a temporary folder that is then renamed,
so an interrupted conversion is never mistaken for a finished one.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import shutil
import tempfile
from typing import Callable, Mapping

import jax
import numpy as np

from jaxgen.data import array_cache
from jaxgen.data.iterator import checked_position, epoch_permutation
from jaxgen.errors import ConfigError, DatasetError

FORMAT_VERSION = 1
RECORDS_PER_SHARD = 4096
CONVERT_CHUNK = 256      # images decoded at once while converting
_DECODE_THREADS = 8      # Pillow releases the GIL while decoding
READ_THREADS = 4         # grain threads reading and decoding records
PREFETCH_BATCHES = 4     # global batches grain reads ahead


@dataclasses.dataclass(frozen=True)
class StreamFiles:
    """What a dataset hands the converter: one split's image files in stored
    order, how to decode one, and the per-example arrays that go with them."""

    paths: tuple                 # absolute image paths, stored order
    decode: Callable             # path -> uint8 [H, W, C]
    image_shape: tuple           # (H, W, C)
    extras: Mapping              # name -> numpy array [N, ...] (labels, attributes)
    fingerprint: str             # digest of the files and decoding settings
    cache_name: str              # folder under streams/ (the dataset's name)


def _grain():
    """grain, or a clear error saying how to get it (the `streaming` extra)."""
    try:
        import grain
    except ImportError as err:
        raise ConfigError("streaming=True reads through grain, which is not installed: "
                          "pip install 'jaxgen[streaming]' (or pip install grain)") from err
    return grain


# ---------------------------------------------------------------------------
# Records: the fields' raw bytes, one after another, in a fixed order
# ---------------------------------------------------------------------------


def field_layout(files: StreamFiles) -> list:
    """[(name, shape, dtype string)] of one record's fields, image first."""
    layout = [("image", tuple(files.image_shape), "uint8")]
    for name in sorted(files.extras):
        value = np.asarray(files.extras[name])
        layout.append((name, tuple(value.shape[1:]), value.dtype.str))
    return layout


def encode_record(example: Mapping, layout) -> bytes:
    return b"".join(np.ascontiguousarray(example[name], dtype).tobytes()
                    for name, _, dtype in layout)


def decode_record(record: bytes, layout) -> dict:
    out, offset = {}, 0
    for name, shape, dtype in layout:
        size = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        out[name] = np.frombuffer(record, dtype, count=size // np.dtype(dtype).itemsize,
                                  offset=offset).reshape(shape)
        offset += size
    if offset != len(record):
        raise DatasetError(f"a streamed record holds {len(record)} bytes, its layout "
                           f"{offset}: the shard cache is damaged; delete it to rebuild")
    return out


# ---------------------------------------------------------------------------
# The one-time conversion
# ---------------------------------------------------------------------------


def shard_folder(files: StreamFiles) -> str:
    key = f"v{FORMAT_VERSION}-{files.fingerprint[:24]}"
    return array_cache.cache_path("streams", files.cache_name, key)


def _write_shards(files: StreamFiles, folder: str, layout) -> list:
    from array_record.python.array_record_module import ArrayRecordWriter

    num = len(files.paths)
    num_shards = max(1, -(-num // RECORDS_PER_SHARD))
    names = [f"shard-{s:05d}-of-{num_shards:05d}.array_record" for s in range(num_shards)]
    pool = concurrent.futures.ThreadPoolExecutor(min(_DECODE_THREADS, os.cpu_count() or 1))
    try:
        for s, name in enumerate(names):
            # group_size:1 makes every record its own chunk: cheap random access.
            writer = ArrayRecordWriter(os.path.join(folder, name), "group_size:1")
            try:
                stop = min(num, (s + 1) * RECORDS_PER_SHARD)
                for start in range(s * RECORDS_PER_SHARD, stop, CONVERT_CHUNK):
                    rows = range(start, min(stop, start + CONVERT_CHUNK))
                    images = pool.map(files.decode, [files.paths[i] for i in rows])
                    for i, image in zip(rows, images):
                        example = {"image": image,
                                   **{k: np.asarray(v)[i] for k, v in files.extras.items()}}
                        writer.write(encode_record(example, layout))
            finally:
                writer.close()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return names


def convert(files: StreamFiles) -> str:
    """The shard folder of `files`, converting the images first if it is absent."""
    folder = shard_folder(files)
    if os.path.isfile(os.path.join(folder, "meta.json")):
        return folder
    if not files.paths:
        raise DatasetError(f"{files.cache_name}: no images to stream")
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-")
    try:
        layout = field_layout(files)
        shards = _write_shards(files, tmp, layout)
        meta = {"version": FORMAT_VERSION, "num_examples": len(files.paths), "shards": shards,
                "layout": [[n, list(s), d] for n, s, d in layout]}
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished the same conversion first
            if not os.path.isfile(os.path.join(folder, "meta.json")):
                raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


class ShardedRecords:
    """The converted split: random access to decoded examples by index."""

    def __init__(self, folder: str):
        grain = _grain()
        try:
            with open(os.path.join(folder, "meta.json")) as f:
                meta = json.load(f)
        except (OSError, ValueError) as err:
            raise DatasetError(f"the streamed dataset in {folder} is unreadable ({err}); "
                               "delete the folder and it will be rebuilt") from err
        self.folder = folder
        self.layout = [(n, tuple(s), d) for n, s, d in meta["layout"]]
        self.num_examples = int(meta["num_examples"])
        self._source = grain.sources.ArrayRecordDataSource(
            [os.path.join(folder, name) for name in meta["shards"]])
        if len(self._source) != self.num_examples:
            raise DatasetError(f"the streamed dataset in {folder} holds {len(self._source)} "
                               f"records, its meta.json says {self.num_examples}; delete the "
                               "folder and it will be rebuilt")

    def __len__(self) -> int:
        return self.num_examples

    def example(self, index: int) -> dict:
        return decode_record(self._source[int(index)], self.layout)

    def head(self, count: int) -> dict:
        """The first `count` examples in stored order, stacked: [count, ...]."""
        examples = [self.example(i) for i in range(count)]
        return {name: np.stack([e[name] for e in examples]) for name, _, _ in self.layout}


def process_rows(order: np.ndarray, batch_size: int, process_index: int,
                 process_count: int) -> np.ndarray:
    """The indices process p reads from one epoch's order: its contiguous
    batch_size / process_count rows of every global batch, batch after batch.
    [batches_per_epoch * local_batch]"""
    local = batch_size // process_count
    batches = len(order) // batch_size
    return order[:batches * batch_size].reshape(batches, process_count, local)[
        :, process_index].reshape(-1)


class _IndexList:
    """A sequence of example indices as a grain random-access source."""

    def __init__(self, indices: np.ndarray):
        self._indices = indices

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, i):
        return int(self._indices[i])


class StreamIterator:
    """The streamed counterpart of `BatchIterator`: same position, same
    batches (of this process's share, see the module docstring)."""

    # The engine puts these batches as process-local shares of the global batch.
    process_local = True

    def __init__(self, records: ShardedRecords, batch_size: int, data_key,
                 position: Mapping[str, int] | None = None, *,
                 process_index: int | None = None, process_count: int | None = None,
                 read_threads: int = READ_THREADS):
        self._records = records
        self._process_count = jax.process_count() if process_count is None else process_count
        self._process_index = jax.process_index() if process_index is None else process_index
        num = len(records)
        if not 0 < batch_size <= num:
            raise ConfigError(f"batch_size={batch_size} must be in 1..{num} "
                              "(the number of training examples)")
        if batch_size % self._process_count:
            raise ConfigError(f"batch_size={batch_size} is not divisible by the "
                              f"{self._process_count} processes that share each batch")
        self._batch_size, self._data_key = batch_size, data_key
        self._read_threads = read_threads
        position = position or {"epoch": 0, "index": 0}
        self._epoch, self._index = self._checked(position)
        self._stream = None  # the grain iterator of the current epoch, from self._index

    @property
    def batches_per_epoch(self) -> int:
        return len(self._records) // self._batch_size

    @property
    def local_batch_size(self) -> int:
        return self._batch_size // self._process_count

    def _checked(self, position) -> tuple[int, int]:
        return checked_position(position, self.batches_per_epoch)

    @property
    def position(self) -> dict:
        return {"epoch": self._epoch, "index": self._index}

    def _open(self, epoch: int, start: int):
        """A grain iterator over this process's batches of `epoch`, from batch `start`."""
        grain = _grain()
        order = epoch_permutation(self._data_key, epoch, len(self._records))
        rows = process_rows(order, self._batch_size, self._process_index, self._process_count)
        dataset = (grain.MapDataset.source(_IndexList(rows))
                   .map(self._records.example)
                   .batch(self.local_batch_size, drop_remainder=True))[start:]
        options = grain.ReadOptions(num_threads=self._read_threads,
                                    prefetch_buffer_size=PREFETCH_BATCHES)
        return iter(dataset.to_iter_dataset(options))

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        if self._index >= self.batches_per_epoch:
            self._epoch, self._index, self._stream = self._epoch + 1, 0, None
        if self._stream is None:
            self._stream = self._open(self._epoch, self._index)
        batch = next(self._stream)
        self._index += 1
        return batch

    def next_stacked(self, count: int) -> dict:
        """`count` consecutive batches stacked on a new leading axis: [count, B_local, ...]."""
        batches = [next(self) for _ in range(count)]
        return {name: np.stack([b[name] for b in batches]) for name in batches[0]}
