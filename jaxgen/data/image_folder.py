"""A folder of the user's own PNG/JPEG images as a dataset.

    jaxgen train --family=vae --config.dataset=image_folder \\
        --config.data_path=DIR --config.image_size=32 --config.channels=3

Every image is decoded with Pillow, turned upright by its EXIF orientation,
converted to RGB (`channels` 3, alpha dropped) or grey (`channels` 1; 16-bit
grey scaled to 8 bits), its short side resized to `image_size` with a Lanczos
filter and centre-cropped to `image_size` x `image_size`. `image_size` 0 means
32 and `channels` 0 means 3. Files ending .png, .jpg or .jpeg (any case) are
images; other files and hidden names (starting with ".") are ignored. A file
that does not decode is an error naming the file, never skipped.

Splits: if DIR holds both train/ and test/, those are the splits. Otherwise
the images (all of DIR, sub-folders included) sorted by relative path form
one list, and image i goes to test when i % 10 == 9 (every tenth, so a folder
of n images has n // 10 test images).

Labels: if no image lies directly in a split's folder and it has
sub-folders, each non-hidden sub-folder is a class (its images, however deep,
carry its label): num_classes = the number of sub-folder names (the union
over train/ and test/), class_names = those names sorted, and examples hold
{"image", "label"}. Otherwise the images are unlabelled: {"image"} only.

The spec reads only directory listings (no decoding). The decoded arrays are
cached under `array_cache.cache_dir()/image_folder`, keyed by the folder's
absolute path, image_size, channels and a fingerprint of the split's files
(relative paths, sizes, modification times): a changed folder is rebuilt.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import os

import numpy as np

from jaxgen import data as _data
from jaxgen.data import array_cache
from jaxgen.data.specs import Dataset, DatasetSpec, image_field, label_field
from jaxgen.errors import ConfigError, DatasetError

SPLITS = ("train", "test")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
DEFAULT_IMAGE_SIZE = 32
DEFAULT_CHANNELS = 3
TEST_EVERY = 10  # without train/ and test/: every tenth image (sorted by path) is a test image
FORMAT_VERSION = 1  # bump when decoding changes, so old cache files are not reused
_DECODE_THREADS = 8  # Pillow releases the GIL while decoding and resizing


# ---------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------


def image_size(config) -> int:
    size = int(config.get("image_size", 0) or DEFAULT_IMAGE_SIZE)
    if size < 1:
        raise ConfigError(f"image_size must be positive (0: {DEFAULT_IMAGE_SIZE}), got {size}")
    return size


def channels(config) -> int:
    value = int(config.get("channels", 0) or DEFAULT_CHANNELS)
    if value not in (1, 3):
        raise ConfigError(f"channels must be 1 (grey) or 3 (RGB) (0: {DEFAULT_CHANNELS}), "
                          f"got {value}")
    return value


def data_path(config, dataset: str, what: str) -> str:
    path = config.get("data_path", "")
    if not path:
        raise ConfigError(f"dataset {dataset!r} reads {what}: give it with "
                          f"--config.data_path=DIR")
    return os.path.abspath(os.path.expanduser(path))


# ---------------------------------------------------------------------------
# Folder layout from directory listings (cheap: no decoding)
# ---------------------------------------------------------------------------


def is_image_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _listing(folder: str) -> list:
    try:
        return sorted(os.scandir(folder), key=lambda entry: entry.name)
    except FileNotFoundError as err:
        raise DatasetError(f"image folder {folder} does not exist") from err
    except NotADirectoryError as err:
        raise DatasetError(f"image folder {folder} is not a folder") from err
    except OSError as err:  # permissions and the like
        raise DatasetError(f"cannot read the image folder {folder} ({err})") from err


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where each split's images are and what their classes are."""

    root: str
    split_folders: dict  # split -> folder; None: the root, split every TEST_EVERY-th
    classes: tuple       # () when unlabelled


def _class_folders(folder: str):
    """The sorted sub-folder names if `folder` holds no image directly, else None."""
    entries = _listing(folder)
    if any(e.is_file() and is_image_name(e.name) for e in entries):
        return None
    names = tuple(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
    return names or None


def _folder_stamp(root: str) -> tuple:
    """Modification times of the listed folders: a new or removed entry changes them."""
    stamps = []
    for folder in (root, os.path.join(root, "train"), os.path.join(root, "test")):
        try:
            stamps.append(os.stat(folder).st_mtime_ns)
        except OSError:
            stamps.append(None)
    return tuple(stamps)


@functools.lru_cache(maxsize=64)
def _layout_cached(root: str, stamp: tuple) -> Layout:
    _listing(root)  # a clear error for a missing or unreadable root
    split_dirs = {s: os.path.join(root, s) for s in SPLITS}
    if all(os.path.isdir(folder) for folder in split_dirs.values()):
        per_split = [_class_folders(folder) for folder in split_dirs.values()]
        classes = () if None in per_split else tuple(sorted(set().union(*per_split)))
        return Layout(root, split_dirs, classes)
    classes = _class_folders(root)
    return Layout(root, {s: None for s in SPLITS}, tuple(classes or ()))


def layout(root: str) -> Layout:
    return _layout_cached(root, _folder_stamp(root))


# ---------------------------------------------------------------------------
# The file list of a split, with labels and a fingerprint
# ---------------------------------------------------------------------------


def _walk_images(folder: str) -> list:
    """Relative POSIX paths of every image under `folder`, sorted."""
    found = []

    def fail(err):
        raise DatasetError(f"cannot read the image folder {err.filename} ({err.strerror})")

    for current, dirs, files in os.walk(folder, onerror=fail):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = os.path.relpath(current, folder)
        for name in files:
            if is_image_name(name):
                found.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
    return sorted(found)


def split_files(lay: Layout, split: str) -> tuple:
    """(absolute paths, labels or None) of one split's images, in sorted order."""
    folder = lay.split_folders[split]
    if folder is None:
        files = _walk_images(lay.root)
        files = [f for i, f in enumerate(files)
                 if (i % TEST_EVERY == TEST_EVERY - 1) == (split == "test")]
        folder = lay.root
    else:
        files = _walk_images(folder)
    labels = None
    if lay.classes:
        index = {name: k for k, name in enumerate(lay.classes)}
        labels = np.array([index[f.split("/")[0]] for f in files], np.int32)  # [N]
    return [os.path.join(folder, *f.split("/")) for f in files], labels


def fingerprint(paths, extra) -> str:
    """A digest of the files (path, size, modification time) and of `extra`."""
    digest = hashlib.sha256(json.dumps(extra, sort_keys=True).encode())
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError as err:
            raise DatasetError(f"cannot read image file {path} ({err})") from err
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------


def resize_and_crop(image, size: int):
    """A PIL image with its short side resized to `size` (Lanczos), then the
    centred `size` x `size` square."""
    from PIL import Image

    width, height = image.size
    short = min(width, height)
    new = (max(size, round(width * size / short)), max(size, round(height * size / short)))
    image = image.resize(new, Image.Resampling.LANCZOS)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return image.crop((left, top, left + size, top + size))


def _to_mode(image, num_channels: int):
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # A 16-bit PNG (mode I;16, or I in older Pillow): convert("L") would clip
        # at 255; scale 0..65535 -> 0..255 instead.
        from PIL import Image
        grey = np.asarray(image, np.float64) / 257.0
        image = Image.fromarray(np.rint(grey).astype(np.uint8), mode="L")
    return image.convert("RGB" if num_channels == 3 else "L")


def decode(path: str, size: int, num_channels: int) -> np.ndarray:
    """One image file -> uint8 [size, size, num_channels]; DatasetError naming
    the file if it does not decode."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            image.draft(None, (size, size))  # JPEG: decode at a smaller scale when it can
            image = ImageOps.exif_transpose(image)
            image = resize_and_crop(_to_mode(image, num_channels), size)
            pixels = np.asarray(image, np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise DatasetError(f"cannot decode image file {path}: {type(err).__name__}: {err}. "
                           "Remove or replace it.") from err
    return pixels.reshape(size, size, num_channels)


def decode_all(paths, size: int, num_channels: int) -> np.ndarray:
    """uint8 [N, size, size, num_channels], decoded on a few threads."""
    from tqdm import tqdm

    out = np.empty((len(paths), size, size, num_channels), np.uint8)
    pool = concurrent.futures.ThreadPoolExecutor(min(_DECODE_THREADS, os.cpu_count() or 1))
    try:
        images = pool.map(lambda p: decode(p, size, num_channels), paths)
        for i, image in enumerate(tqdm(images, total=len(paths), desc="decoding images",
                                       disable=len(paths) < 5000, leave=False)):
            out[i] = image
    finally:
        # On a corrupt file, stop at once rather than decode the rest first.
        pool.shutdown(wait=True, cancel_futures=True)
    return out


def load_images(paths, size: int, num_channels: int, extra: dict, cache_name: str) -> np.ndarray:
    """The decoded images of `paths`, from the cache when the files are unchanged."""
    key = fingerprint(paths, dict(extra, size=size, channels=num_channels,
                                  version=FORMAT_VERSION))
    path = array_cache.cache_path(cache_name, f"{key[:24]}.npz")
    return array_cache.load_or_build(
        path, lambda: {"image": decode_all(paths, size, num_channels)})["image"]


# ---------------------------------------------------------------------------
# The registry entry
# ---------------------------------------------------------------------------


def spec(config) -> DatasetSpec:
    size, num_channels = image_size(config), channels(config)
    classes = layout(data_path(config, "image_folder", "a folder of PNG/JPEG images")).classes
    fields = {"image": image_field(size, size, num_channels)}
    if classes:
        fields["label"] = label_field(len(classes))
    return DatasetSpec(name="image_folder", kind="images", fields=fields,
                       num_classes=len(classes), splits=SPLITS, class_names=classes)


def _split_listing(config, split: str) -> tuple:
    """(root, paths, labels or None, cache extra) of one split, refused if empty."""
    if split not in SPLITS:
        raise DatasetError(f"image_folder has no split {split!r}; choose one of "
                           f"{', '.join(SPLITS)}")
    root = data_path(config, "image_folder", "a folder of PNG/JPEG images")
    lay = layout(root)
    paths, labels = split_files(lay, split)
    if not paths:
        rule = ("its test/ folder" if lay.split_folders[split] else
                f"every {TEST_EVERY}th image (sorted by path) is a test image")
        raise DatasetError(f"image folder {root} has no {split} images "
                           f"(PNG/JPEG; {rule}). Add images, or put train/ and test/ "
                           "folders in it")
    return root, paths, labels, {"root": root, "split": split, "classes": list(lay.classes)}


def load(config, split: str) -> dict:
    _, paths, labels, extra = _split_listing(config, split)
    images = load_images(paths, image_size(config), channels(config), extra, "image_folder")
    arrays = {"image": images}
    if labels is not None:
        arrays["label"] = labels
    return arrays


def stream_files(paths, extras: dict, config, extra: dict, cache_name: str):
    """The `streaming.StreamFiles` of `paths`, decoded as `load_images` decodes them."""
    from jaxgen.data.streaming import StreamFiles

    size, num_channels = image_size(config), channels(config)
    key = fingerprint(paths, dict(extra, size=size, channels=num_channels,
                                  version=FORMAT_VERSION))
    return StreamFiles(paths=tuple(paths), decode=functools.partial(decode, size=size,
                                                                    num_channels=num_channels),
                       image_shape=(size, size, num_channels), extras=extras,
                       fingerprint=key, cache_name=cache_name)


def stream(config, split: str):
    _, paths, labels, extra = _split_listing(config, split)
    return stream_files(paths, {} if labels is None else {"label": labels}, config, extra,
                        "image_folder")


_data.register(Dataset(
    name="image_folder",
    description="your own PNG/JPEG images (--config.data_path=DIR), resized and centre-cropped "
                "to image_size, RGB or grey; class labels from sub-folder names",
    spec=spec, load=load, config_keys=("data_path", "image_size", "channels"), stream=stream,
    how_to_get="point --config.data_path at a folder of PNG/JPEG images (sub-folders as "
               "classes, optional train/ and test/ folders)"))
