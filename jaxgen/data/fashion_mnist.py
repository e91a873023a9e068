"""Fashion-MNIST as a TFDS dataset that needs no TensorFlow.

Why not the catalog's `fashion_mnist`: it stores PNG-encoded `tfds.features.Image`
in TFRecord files, and both encoding the PNGs and reading TFRecords need
TensorFlow. This builder stores each example as plain tensors (`uint8` image
bytes and an `int64` label) in array_record files. TFDS serializes such
tensors with its pure-protobuf example serializer, and reads them back through
`builder.as_data_source(split)`, which uses the `array_record` reader and
TFDS's numpy example parser (`features.deserialize_example_np`). Neither path
imports TensorFlow (checked: `import tensorflow` fails on the development
machine and the round trip still works).

Source files, in order of preference:
  1. a folder with the four official IDX `.gz` files: `JAXGEN_FASHION_MNIST_DIR`,
     else `/usr/share/datasets/fashion-mnist` (Debian `dataset-fashion-mnist`);
  2. the official Zalando URLs, only when download is allowed
     (`load(..., download=True)` or env `JAXGEN_DOWNLOAD=1`).

The prepared dataset lives in the TFDS data dir (`JAXGEN_DATA_DIR`, else
`~/.cache/jaxgen/tensorflow_datasets`); once prepared, the source files are no
longer needed. Note that the data dir keeps whatever was prepared first: point
tests that use fake IDX files at their own data dir.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import os
import socket
import sys
import urllib.parse
import urllib.request
import zlib

import numpy as np
import tensorflow_datasets as tfds

from jaxgen import data as _data
from jaxgen.data.specs import Dataset, DatasetSpec, image_field, label_field
from jaxgen.errors import DatasetError

TFDS_NAME = "jaxgen_fashion_mnist"
SPLITS = ("train", "test")
IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
CLASS_NAMES = _data.FASHION_MNIST_CLASSES

DEFAULT_SOURCE_DIR = "/usr/share/datasets/fashion-mnist"
SOURCE_DIR_ENV = "JAXGEN_FASHION_MNIST_DIR"
DATA_DIR_ENV = "JAXGEN_DATA_DIR"
DOWNLOAD_ENV = "JAXGEN_DOWNLOAD"
DEFAULT_DATA_DIR = "~/.cache/jaxgen/tensorflow_datasets"

# split -> (images file, labels file), the names Zalando publishes.
SOURCE_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
ALL_SOURCE_FILES = tuple(name for pair in SOURCE_FILES.values() for name in pair)

OFFICIAL_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

# Size and sha256 of the official downloads (the same values TFDS's catalog
# records for `fashion_mnist`), so a download that is cut short or altered is
# rejected by the download manager. The Debian files are re-compressed and
# have other checksums, which is why local files are checked by parsing them.
_OFFICIAL_CHECKSUMS = {
    "train-images-idx3-ubyte.gz": (
        26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
    "train-labels-idx1-ubyte.gz": (
        29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
    "t10k-images-idx3-ubyte.gz": (
        4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
    "t10k-labels-idx1-ubyte.gz": (
        5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
}

# IDX header: two zero bytes, a type code (0x08 = unsigned byte), the number
# of dimensions, then one big-endian uint32 per dimension.
_IDX_UBYTE = 0x08
_IDX_IMAGES_NDIM = 3
_IDX_LABELS_NDIM = 1

# Records decoded per `__getitems__` call when reading a split back: large
# enough that the array_record reader's batched (parallel) read pays off,
# small enough that the temporary list of dicts stays a few MB.
_READ_CHUNK = 10_000


# ---------------------------------------------------------------------------
# Configuration from arguments and environment
# ---------------------------------------------------------------------------


def default_data_dir() -> str:
    """TFDS data dir: `JAXGEN_DATA_DIR`, else `~/.cache/jaxgen/tensorflow_datasets`."""
    return os.path.expanduser(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def source_dir() -> str:
    """Folder searched for the IDX files: `JAXGEN_FASHION_MNIST_DIR` or Debian's."""
    return os.path.expanduser(os.environ.get(SOURCE_DIR_ENV) or DEFAULT_SOURCE_DIR)


def download_allowed(download: bool | None = None) -> bool:
    """An explicit argument wins; otherwise `JAXGEN_DOWNLOAD` in {1, true, yes}."""
    if download is not None:
        return bool(download)
    return os.environ.get(DOWNLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


def how_to_get_it() -> str:
    """The one piece of advice every missing-data error ends with."""
    return (
        "Get Fashion-MNIST in one of three ways: `apt-get install "
        f"dataset-fashion-mnist` (puts the files in {DEFAULT_SOURCE_DIR}); or set "
        f"{SOURCE_DIR_ENV} to a folder holding the four IDX files "
        f"{', '.join(ALL_SOURCE_FILES)}; or allow the download from {OFFICIAL_URL} "
        f"with {DOWNLOAD_ENV}=1 (or `load(..., download=True)`) on a machine "
        "with internet access."
    )


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise DatasetError(
            f"Fashion-MNIST has no split {split!r}; choose one of {', '.join(SPLITS)}."
        )
    return split


# ---------------------------------------------------------------------------
# IDX parsing (numpy + gzip only)
# ---------------------------------------------------------------------------


def read_gzip_bytes(path: str) -> bytes:
    """Whole decompressed file; a truncated or non-gzip file is a DatasetError."""
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    # BadGzipFile is an OSError; a file cut short ends in EOFError.
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(
            f"Cannot read {path}: corrupt or truncated gzip file ({e}). "
            "Replace it with an intact copy. " + how_to_get_it()
        ) from e


def parse_idx(raw: bytes, ndim: int, path: str) -> np.ndarray:
    """Unsigned-byte IDX payload -> array of the dims its header declares."""
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DatasetError(
            f"{path} is not an IDX file: {len(raw)} bytes, shorter than its header."
        )
    if raw[0] != 0 or raw[1] != 0 or raw[2] != _IDX_UBYTE or raw[3] != ndim:
        raise DatasetError(
            f"{path} has IDX magic 0x{raw[:4].hex()}, expected "
            f"0x0000{_IDX_UBYTE:02x}{ndim:02x} (unsigned bytes, {ndim} dims)."
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected_len = header_len + int(np.prod(dims))
    if len(raw) != expected_len:
        raise DatasetError(
            f"{path} is truncated or corrupt: its header declares dims {dims} "
            f"({expected_len} bytes in all) but it holds {len(raw)} bytes."
        )
    return np.frombuffer(raw, np.uint8, offset=header_len).reshape(dims)


def read_idx_images(path: str) -> np.ndarray:
    images = parse_idx(read_gzip_bytes(path), _IDX_IMAGES_NDIM, path)  # [N, 28, 28]
    if images.shape[1:] != IMAGE_SHAPE[:2]:
        raise DatasetError(
            f"{path} holds images of shape {images.shape[1:]}, "
            f"expected {IMAGE_SHAPE[:2]}."
        )
    return images[..., None]  # [N, 28, 28, 1]


def read_idx_labels(path: str) -> np.ndarray:
    labels = parse_idx(read_gzip_bytes(path), _IDX_LABELS_NDIM, path)  # [N] uint8
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DatasetError(
            f"{path} holds label {int(labels.max())}; Fashion-MNIST labels are 0..9."
        )
    return labels.astype(np.int64)  # [N]


def read_idx_split(images_path: str, labels_path: str) -> tuple[np.ndarray, np.ndarray]:
    """Images [N, 28, 28, 1] uint8 and labels [N] int64, checked to match."""
    images = read_idx_images(images_path)
    labels = read_idx_labels(labels_path)
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels."
        )
    return images, labels


def check_reachable(url: str, timeout_s: float = 10.0) -> None:
    """Raise OSError fast when the download host cannot be reached.

    TFDS retries a failed request ten times with back-off, so without this
    probe an offline machine waits more than three minutes for the error.
    Behind a proxy a direct connection proves nothing, so the probe is skipped.
    """
    if urllib.request.getproxies():
        return
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    socket.create_connection((parts.hostname, port), timeout=timeout_s).close()


def missing_source_files(folder: str) -> list[str]:
    return [n for n in ALL_SOURCE_FILES if not os.path.isfile(os.path.join(folder, n))]


# ---------------------------------------------------------------------------
# TFDS builder
# ---------------------------------------------------------------------------


class JaxgenFashionMnist(tfds.core.GeneratorBasedBuilder):
    """Fashion-MNIST stored as uint8 tensors in array_record (no TensorFlow)."""

    # Explicit, so it never clashes with the catalog's `fashion_mnist`.
    name = TFDS_NAME
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "uint8 image tensors and int64 labels in array_record."}

    # Replaces the checksums.tsv lookup TFDS does next to a builder's module.
    url_infos = {
        OFFICIAL_URL + filename: tfds.download.checksums.UrlInfo(
            size=tfds.core.utils.Size(size), checksum=sha256, filename=filename)
        for filename, (size, sha256) in _OFFICIAL_CHECKSUMS.items()
    }

    def __init__(self, *, source_dir: str | None = None, download: bool | None = None,
                 **kwargs):
        # None means "ask the environment when the data is generated", so that
        # `tfds.builder(TFDS_NAME)` follows the same rules as `load`.
        self._source_dir = source_dir
        self._download = download
        # TFRecord, the TFDS default, would need TensorFlow to write and read.
        kwargs.setdefault("file_format", "array_record")
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        # DatasetInfo directly rather than `dataset_info_from_configs`, which
        # looks for metadata files (README, CITATIONS.bib) next to this module.
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Fashion-MNIST: 28x28 grayscale images of 10 clothing classes, "
                "60,000 train and 10,000 test, stored as raw uint8 tensors."
            ),
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Tensor(shape=IMAGE_SHAPE, dtype=np.uint8),
                "label": tfds.features.Tensor(shape=(), dtype=np.int64),
            }),
            supervised_keys=("image", "label"),
            homepage="https://github.com/zalandoresearch/fashion-mnist",
            # Keep the IDX order: record i of a split is example i of the file.
            disable_shuffling=True,
        )

    def _source_paths(self, dl_manager) -> dict[str, str]:
        """Filename -> local path of the four IDX files, downloading if allowed."""
        folder = self._source_dir or source_dir()
        missing = missing_source_files(folder)
        if not missing:
            return {name: os.path.join(folder, name) for name in ALL_SOURCE_FILES}
        if not download_allowed(self._download):
            raise DatasetError(
                f"Fashion-MNIST source files not found: {folder} lacks "
                f"{', '.join(missing)}. " + how_to_get_it()
            )
        try:
            check_reachable(OFFICIAL_URL)
            paths = dl_manager.download({n: OFFICIAL_URL + n for n in ALL_SOURCE_FILES})
        except Exception as e:  # network, DNS, HTTP, checksum: all mean "no data"
            raise DatasetError(
                f"Fashion-MNIST source files not found in {folder} and the download "
                f"from {OFFICIAL_URL} failed ({type(e).__name__}: {e}). "
                + how_to_get_it()
            ) from e
        return {name: os.fspath(path) for name, path in paths.items()}

    def _split_generators(self, dl_manager):
        paths = self._source_paths(dl_manager)
        # Parse everything before TFDS starts writing, so a bad file fails fast
        # with our DatasetError instead of mid-way through a split.
        arrays = {
            split: read_idx_split(paths[images_name], paths[labels_name])
            for split, (images_name, labels_name) in SOURCE_FILES.items()
        }
        return {
            split: self._generate_examples(images, labels)
            for split, (images, labels) in arrays.items()
        }

    def _generate_examples(self, images: np.ndarray, labels: np.ndarray):
        # Integer keys are required by `disable_shuffling` and fix the order.
        for index, (image, label) in enumerate(zip(images, labels)):
            yield index, {"image": image, "label": label}


# ---------------------------------------------------------------------------
# Loading into memory
# ---------------------------------------------------------------------------


def read_data_source(data_source) -> dict[str, np.ndarray]:
    """All records of a TFDS data source, stacked into arrays.

    `__getitems__` with a list of indices reads a whole chunk in one batched
    array_record call (0.4 s for the train split); what remains is TFDS's
    per-record numpy decoding (~22 us each), so the 60,000-record train split
    loads in about 2 s on the 2-core development machine.
    """
    num = len(data_source)
    images = np.empty((num, *IMAGE_SHAPE), np.uint8)  # [N, 28, 28, 1]
    labels = np.empty((num,), np.int32)  # [N]
    for start in range(0, num, _READ_CHUNK):
        stop = min(start + _READ_CHUNK, num)
        records = data_source.__getitems__(list(range(start, stop)))
        images[start:stop] = np.stack([r["image"] for r in records])
        labels[start:stop] = [r["label"] for r in records]
    return {"image": images, "label": labels}


@functools.lru_cache(maxsize=None)
def _load_cached(split: str, data_dir: str, folder: str, download: bool):
    # Every input that could change the answer is part of the cache key
    # (env vars are resolved by the caller), so changing them is honoured.
    builder = JaxgenFashionMnist(data_dir=data_dir, source_dir=folder, download=download)
    # A no-op when the data dir already holds this version (TFDS checks), so
    # no `is_prepared()` first: that logs a warning for every fresh data dir.
    _prepare_quietly(builder, data_dir, folder, download)
    arrays = read_data_source(builder.as_data_source(split))
    for array in arrays.values():
        # Shared by every caller in this process: make accidental in-place
        # edits fail loudly instead of corrupting later loads.
        array.flags.writeable = False
    return arrays


def _prepare_quietly(builder, data_dir: str, folder: str, download: bool) -> None:
    """download_and_prepare without TFDS's "Downloading and preparing dataset
    Unknown size" (nothing is downloaded from a local folder): one line of
    our own says what happens, the first time only."""
    prepared = os.path.exists(os.path.join(data_dir, builder.name, str(builder.VERSION),
                                           "dataset_info.json"))
    if not prepared:
        origin = "the official files (JAXGEN_DOWNLOAD=1)" if download else folder
        print(f"jaxgen: converting Fashion-MNIST from {origin} into {data_dir} (once, about "
              "half a minute)", file=sys.stderr, flush=True)
    with contextlib.redirect_stdout(io.StringIO()):
        builder.download_and_prepare()


def load(split: str, data_dir: str | None = None, *,
         download: bool | None = None) -> dict[str, np.ndarray]:
    """One Fashion-MNIST split in memory.

    Returns `{"image": uint8 [N, 28, 28, 1], "label": int32 [N]}` (N = 60,000
    for "train", 10,000 for "test"), in the order of the official files.
    Prepares the TFDS dataset in `data_dir` on first use; later calls in the
    same process return the cached (read-only) arrays.

    Raises DatasetError for an unknown split, or when the dataset is neither
    prepared nor obtainable (the message says how to get it).
    """
    check_split(split)
    data_dir = os.path.abspath(os.path.expanduser(data_dir or default_data_dir()))
    cached = _load_cached(split, data_dir, source_dir(), download_allowed(download))
    return dict(cached)  # a fresh dict, so callers may add or drop keys freely


# ---------------------------------------------------------------------------
# The registry entry
# ---------------------------------------------------------------------------

SPEC = DatasetSpec(name="fashion_mnist", kind="images",
                   fields={"image": image_field(*IMAGE_SHAPE), "label": label_field(NUM_CLASSES)},
                   num_classes=NUM_CLASSES, splits=SPLITS, class_names=CLASS_NAMES)

_data.register(Dataset(
    name="fashion_mnist",
    description="Fashion-MNIST: 28x28 grey garments, 10 classes, 60,000 train / 10,000 test",
    spec=lambda config: SPEC, load=lambda config, split: load(split),
    how_to_get=how_to_get_it()))
