"""Fashion-MNIST-M: Fashion-MNIST garments blended over colour-photo patches,
built as MNIST-M is (Ganin & Lempitsky 2015; Ganin et al., JMLR 2016), the
domain-adaptation target of Fashion-MNIST.

The blend. MNIST-M combines two images "as I_out[i, j, k] = |I1[i, j, k] -
I2[i, j, k]|" (the paper's definition), I1 a digit and I2 a patch of a
BSDS500 photo. Here, for garment image g (grey, uint8 [28, 28]) and a random
28x28 crop p of a random photo (uint8 [28, 28, 3]):

    out[i, j, k] = |p[i, j, k] - g[i, j]|        (computed in int16, k = R, G, B)

g is broadcast to the three channels and is NOT binarised first (the usual
MNIST-M script thresholds digits at > 0; garments carry their texture in their
grey levels, which that would erase). Fashion-MNIST backgrounds are 0, so
outside the garment the output is the photo patch itself; inside it the
garment inverts the patch in proportion to its brightness (a white pixel
gives 255 - p).

The crops. For example n: photo index uniform over the split's photos, then
the crop's top-left corner uniform over every position where the 28x28 crop
fits, from numpy's PCG64 generator seeded with (DATASET_SEED, split index).
DATASET_SEED is a constant, not the run's seed: every run sees the same
dataset. Train and test crops come from disjoint photographs
(TRAIN_PHOTOS / TEST_PHOTOS), so the test set measures transfer to unseen
textures too.

The photographs are the colour photographs bundled in the scikit-image and
scikit-learn wheels (no download; checked with scikit-image 0.26.0 and
scikit-learn 1.9.1): 11 images of 10 scenes, used at full resolution. This
shift is much less varied than MNIST-M's: MNIST-M crops its patches from the
200 train photographs of BSDS500, here 8 photographs (7 scenes) serve the
60,000 train images and 3 the 10,000 test images.

Fields {"image": uint8 [28, 28, 3], "label": int32 []} with Fashion-MNIST's
labels and order: example n is Fashion-MNIST image n blended. Built once per
split (both splits took 16 s on the shared 2-core development machine, 11 s
with scikit-image already imported) and cached under `array_cache.cache_dir()`
(~/.cache/jaxgen/arrays/fashion_mnist_m, 165 MB); a cached load takes 0.5 s.
"""
from __future__ import annotations

import functools

import numpy as np

from jaxgen import data as _data
from jaxgen.data import array_cache, fashion_mnist
from jaxgen.data.specs import Dataset, DatasetSpec, image_field, label_field
from jaxgen.errors import DatasetError

SPLITS = ("train", "test")
HEIGHT = WIDTH = 28
CHANNELS = 3
DATASET_SEED = 0
# Bump when the recipe or the photo lists change, so old cache files are not reused.
BUILD_VERSION = 1

TRAIN_PHOTOS = ("astronaut", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
                "motorcycle_left", "motorcycle_right", "china")
TEST_PHOTOS = ("chelsea", "flower", "retina")
PHOTOS = {"train": TRAIN_PHOTOS, "test": TEST_PHOTOS}

INSTALL_HINT = ("fashion_mnist_m is built from the photographs bundled in scikit-image and "
                "scikit-learn: pip install scikit-image scikit-learn (or pip install "
                "'jaxgen[photos]')")


# ---------------------------------------------------------------------------
# The photographs
# ---------------------------------------------------------------------------


def _photo_readers() -> dict:
    """Photo name -> a function returning it as uint8 [H, W, 3] (lazy imports:
    scikit-image and scikit-learn are optional dependencies)."""
    try:
        import skimage.data as sk
        from sklearn.datasets import load_sample_image
    except ImportError as err:
        raise DatasetError(f"{INSTALL_HINT} ({err})") from err
    return {
        "astronaut": sk.astronaut, "coffee": sk.coffee, "rocket": sk.rocket,
        "hubble_deep_field": sk.hubble_deep_field,
        "immunohistochemistry": sk.immunohistochemistry,
        "motorcycle_left": lambda: sk.stereo_motorcycle()[0],
        "motorcycle_right": lambda: sk.stereo_motorcycle()[1],
        "chelsea": sk.chelsea, "retina": sk.retina,
        "china": lambda: load_sample_image("china.jpg"),
        "flower": lambda: load_sample_image("flower.jpg"),
    }


def load_photos(names) -> list:
    """The named photographs, each uint8 [H, W, 3]."""
    readers = _photo_readers()
    photos = []
    for name in names:
        try:
            photo = np.asarray(readers[name]())
        except Exception as err:  # a photo moved out of the wheel, a broken install
            raise DatasetError(f"cannot read the photograph {name!r} for fashion_mnist_m "
                               f"({type(err).__name__}: {err}). {INSTALL_HINT}") from err
        if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
            raise DatasetError(f"photograph {name!r} is {photo.dtype} {photo.shape}, "
                               "expected uint8 [H, W, 3]")
        photos.append(photo)
    return photos


# ---------------------------------------------------------------------------
# The build: pure functions of (images, photos, seed)
# ---------------------------------------------------------------------------


def draw_crops(num: int, photo_shapes, rng: np.random.Generator, size: int = HEIGHT):
    """Which photo and where: photo index [num], top [num], left [num], each
    crop `size` x `size` and inside its photo."""
    heights = np.array([s[0] for s in photo_shapes])
    widths = np.array([s[1] for s in photo_shapes])
    which = rng.integers(0, len(photo_shapes), num)  # [num]
    # `integers` excludes its upper bound: top in 0..H-size inclusive.
    top = rng.integers(0, heights[which] - size + 1)  # [num]
    left = rng.integers(0, widths[which] - size + 1)  # [num]
    return which, top, left


def cut_patches(photos, which, top, left, size: int = HEIGHT) -> np.ndarray:
    """The crops as one array uint8 [num, size, size, 3], gathered per photo."""
    patches = np.empty((len(which), size, size, 3), np.uint8)
    offsets = np.arange(size)
    for index, photo in enumerate(photos):
        rows_of = np.flatnonzero(which == index)
        rows = top[rows_of, None] + offsets  # [n, size]
        cols = left[rows_of, None] + offsets  # [n, size]
        patches[rows_of] = photo[rows[:, :, None], cols[:, None, :]]  # [n, size, size, 3]
    return patches


def blend(images: np.ndarray, patches: np.ndarray) -> np.ndarray:
    """MNIST-M's blend |patch - image| per channel.

    images uint8 [N, H, W, 1] (grey, broadcast to the channels), patches
    uint8 [N, H, W, 3] -> uint8 [N, H, W, 3].
    """
    difference = patches.astype(np.int16) - images.astype(np.int16)  # [N, H, W, 3]
    return np.abs(difference).astype(np.uint8)


def build(images: np.ndarray, photos, seed) -> np.ndarray:
    """Fashion-MNIST-M images from grey images uint8 [N, 28, 28, 1] and
    photographs (uint8 [H, W, 3] each): uint8 [N, 28, 28, 3]. `seed` is
    anything numpy.random.default_rng takes; the same seed gives the same
    crops."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] != 1:
        raise ValueError(f"expected grey images [N, H, W, 1], got {images.shape}")
    size = images.shape[1]
    rng = np.random.default_rng(seed)
    which, top, left = draw_crops(len(images), [p.shape for p in photos], rng, size)
    return blend(images, cut_patches(photos, which, top, left, size))


def split_seed(split: str) -> tuple:
    return (DATASET_SEED, SPLITS.index(split))


def build_split(split: str) -> dict:
    """One split from Fashion-MNIST and the split's photographs."""
    garments = fashion_mnist.load(split)
    images = build(garments["image"], load_photos(PHOTOS[split]), split_seed(split))
    return {"image": images, "label": np.asarray(garments["label"], np.int32)}


# ---------------------------------------------------------------------------
# Loading and the registry entry
# ---------------------------------------------------------------------------


def cache_file(split: str) -> str:
    return array_cache.cache_path(
        "fashion_mnist_m", f"v{BUILD_VERSION}_seed{DATASET_SEED}_{split}.npz")


@functools.lru_cache(maxsize=None)
def _load_cached(split: str, path: str) -> dict:
    arrays = array_cache.load_or_build(path, lambda: build_split(split))
    for array in arrays.values():
        array.flags.writeable = False  # shared by every caller in this process
    return arrays


def load(split: str) -> dict:
    """{"image": uint8 [N, 28, 28, 3], "label": int32 [N]} (N = 60,000 train,
    10,000 test), built and cached on first use."""
    if split not in SPLITS:
        raise DatasetError(f"fashion_mnist_m has no split {split!r}; choose one of "
                           f"{', '.join(SPLITS)}")
    return dict(_load_cached(split, cache_file(split)))


SPEC = DatasetSpec(name="fashion_mnist_m", kind="images",
                   fields={"image": image_field(HEIGHT, WIDTH, CHANNELS),
                           "label": label_field(len(_data.FASHION_MNIST_CLASSES))},
                   num_classes=len(_data.FASHION_MNIST_CLASSES), splits=SPLITS,
                   class_names=_data.FASHION_MNIST_CLASSES)

_data.register(Dataset(
    name="fashion_mnist_m",
    description="Fashion-MNIST blended with colour-photo patches as MNIST-M is: 28x28 RGB, "
                "10 classes, 60,000 train / 10,000 test (disjoint photographs)",
    spec=lambda config: SPEC, load=lambda config, split: load(split),
    how_to_get=f"{INSTALL_HINT}; it also needs Fashion-MNIST: {fashion_mnist.how_to_get_it()}"))
