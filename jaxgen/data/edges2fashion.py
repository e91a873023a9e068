"""edges2fashion: (edge map, garment) pairs from Fashion-MNIST, the offline
analogue of pix2pix's edges2shoes.

Fields {"a": uint8 [28, 28, 1] edge map, "b": uint8 [28, 28, 1] the garment,
"label": int32 []}; example n pairs Fashion-MNIST image n with its edges, so
the source `paired` trains a -> b (edges to garment) with no dataset_b.

The edge map follows the pix2pix convention of edges2shoes: dark edges on
white, 0 on an edge pixel and 255 elsewhere.

The edges are a Canny detector written in numpy (no scikit-image needed),
applied to the garment scaled to [0, 1]:
  1. Gaussian smoothing, sigma SIGMA, edge-replicating borders;
  2. Sobel gradients (divided by 8: a unit step gives magnitude 0.5 on the
     two pixels beside it), magnitude and direction;
  3. non-maximum suppression along the gradient, quantised to 4 directions:
     a pixel stays if its magnitude is > its neighbour behind and >= its
     neighbour ahead, so of the two equal pixels either side of a symmetric
     step exactly one stays (magnitudes are rounded to 1e-6 first, so float
     rounding does not break that tie);
  4. hysteresis: pixels above HIGH_FRACTION of the image's largest magnitude
     are edges, and so are pixels above LOW_FRACTION connected to them
     (8-neighbourhood). Thresholds relative to each image keep the outline of
     a dark garment as well as a bright one.
Built once per split (both splits took 34-43 s on the shared 2-core
development machine) and cached under `array_cache.cache_dir()`.
"""
from __future__ import annotations

import functools

import numpy as np

from jaxgen import data as _data
from jaxgen.data import array_cache, fashion_mnist
from jaxgen.data.specs import Dataset, DatasetSpec, image_field, label_field
from jaxgen.errors import DatasetError

SPLITS = ("train", "test")
SIGMA = 1.0
LOW_FRACTION = 0.1
HIGH_FRACTION = 0.25
EDGE_VALUE, BACKGROUND_VALUE = 0, 255  # dark edges on white (pix2pix)
BUILD_VERSION = 1
_CHUNK = 5000  # images per vectorised Canny call: a few float arrays of 16 MB
_GAUSSIAN_TRUNCATE = 3.0  # kernel radius in sigmas


# ---------------------------------------------------------------------------
# Canny in numpy, over a batch [N, H, W] of floats
# ---------------------------------------------------------------------------


def gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(_GAUSSIAN_TRUNCATE * sigma + 0.5))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()  # [2 * radius + 1]


def _convolve_axis(x: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """Correlate [N, H, W] with a 1-D symmetric kernel along axis 1 or 2,
    replicating the border pixels."""
    radius = len(kernel) // 2
    pad = [(0, 0)] * 3
    pad[axis] = (radius, radius)
    padded = np.pad(x, pad, mode="edge")
    length = x.shape[axis]
    out = np.zeros_like(x)
    for offset, weight in enumerate(kernel):
        window = [slice(None)] * 3
        window[axis] = slice(offset, offset + length)
        out += weight * padded[tuple(window)]
    return out


def smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    kernel = gaussian_kernel(sigma)
    return _convolve_axis(_convolve_axis(x, kernel, 1), kernel, 2)


def sobel(x: np.ndarray):
    """Gradients (d/dcol, d/drow) of [N, H, W], each [N, H, W], scaled by 1/8."""
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")  # [N, H+2, W+2]
    dcol = p[:, :, 2:] - p[:, :, :-2]  # [N, H+2, W]: right minus left
    drow = p[:, 2:, :] - p[:, :-2, :]  # [N, H, W+2]: below minus above
    gx = (dcol[:, :-2] + 2 * dcol[:, 1:-1] + dcol[:, 2:]) / 8.0
    gy = (drow[:, :, :-2] + 2 * drow[:, :, 1:-1] + drow[:, :, 2:]) / 8.0
    return gx, gy


# Neighbour offset (drow, dcol) along the gradient for each quantised direction
# of angle = atan2(gy, gx) mod pi: 0 horizontal, 1 diagonal down-right,
# 2 vertical, 3 diagonal down-left.
_DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1))


def _neighbours(x: np.ndarray, fill=0):
    """A function (drow, dcol) -> y with y[n, r, c] = x[n, r + drow, c + dcol]
    (`fill` outside the image), the offsets in -1..1; pads once."""
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)), constant_values=fill)
    h, w = x.shape[1:]
    return lambda drow, dcol: p[:, 1 + drow:1 + drow + h, 1 + dcol:1 + dcol + w]


def non_maximum_suppression(magnitude: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Bool [N, H, W]: pixels that are a local maximum along their gradient."""
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    direction = np.rint(angle / (np.pi / 4)).astype(np.int8) % 4  # [N, H, W]
    neighbour = _neighbours(magnitude)
    keep = np.zeros(magnitude.shape, bool)
    for index, (drow, dcol) in enumerate(_DIRECTIONS):
        ahead, behind = neighbour(drow, dcol), neighbour(-drow, -dcol)
        keep |= (direction == index) & (magnitude > behind) & (magnitude >= ahead)
    return keep & (magnitude > 0)


def dilate(mask: np.ndarray) -> np.ndarray:
    """3x3 (8-neighbourhood) dilation of a bool [N, H, W]: along rows, then
    along columns."""
    p = np.pad(mask, ((0, 0), (1, 1), (1, 1)))
    rows = p[:, :-2] | p[:, 1:-1] | p[:, 2:]  # [N, H, W+2]
    return rows[:, :, :-2] | rows[:, :, 1:-1] | rows[:, :, 2:]  # [N, H, W]


def hysteresis(candidates: np.ndarray, magnitude: np.ndarray, low, high) -> np.ndarray:
    """Strong pixels (>= high) and the weak ones (>= low) connected to them
    through weak pixels. low, high: thresholds broadcastable to [N, H, W]."""
    weak = candidates & (magnitude >= low)
    edges = weak & (magnitude >= high)
    active = np.arange(len(edges))  # images whose edges still grow
    while len(active):
        grown = weak[active] & dilate(edges[active])
        changed = np.any(grown != edges[active], axis=(1, 2))
        edges[active] = grown
        active = active[changed]
    return edges


def canny(images: np.ndarray, sigma: float = SIGMA, low_fraction: float = LOW_FRACTION,
          high_fraction: float = HIGH_FRACTION) -> np.ndarray:
    """Edges of grey images [N, H, W] (floats, any scale): bool [N, H, W].
    The thresholds are fractions of each image's largest gradient magnitude."""
    x = smooth(np.asarray(images, np.float64), sigma)
    gx, gy = sobel(x)
    magnitude = np.round(np.hypot(gx, gy), 6)
    peak = magnitude.max(axis=(1, 2), keepdims=True)  # [N, 1, 1]
    candidates = non_maximum_suppression(magnitude, gx, gy)
    return hysteresis(candidates, magnitude, low_fraction * peak, high_fraction * peak)


def edge_maps(images: np.ndarray) -> np.ndarray:
    """Garments uint8 [N, H, W, 1] -> edge maps uint8 [N, H, W, 1], dark edges
    on white."""
    out = np.empty(images.shape, np.uint8)
    for start in range(0, len(images), _CHUNK):
        chunk = images[start:start + _CHUNK, :, :, 0].astype(np.float64) / 255.0
        edges = canny(chunk)  # [n, H, W]
        out[start:start + _CHUNK, :, :, 0] = np.where(edges, EDGE_VALUE, BACKGROUND_VALUE)
    return out


# ---------------------------------------------------------------------------
# Loading and the registry entry
# ---------------------------------------------------------------------------


def build_split(split: str) -> dict:
    garments = fashion_mnist.load(split)
    return {"a": edge_maps(garments["image"]), "b": np.asarray(garments["image"]),
            "label": np.asarray(garments["label"], np.int32)}


def cache_file(split: str) -> str:
    return array_cache.cache_path("edges2fashion", f"v{BUILD_VERSION}_{split}.npz")


@functools.lru_cache(maxsize=None)
def _load_cached(split: str, path: str) -> dict:
    arrays = array_cache.load_or_build(path, lambda: build_split(split))
    for array in arrays.values():
        array.flags.writeable = False  # shared by every caller in this process
    return arrays


def load(split: str) -> dict:
    """{"a": edges uint8 [N, 28, 28, 1], "b": garments uint8 [N, 28, 28, 1],
    "label": int32 [N]}, built and cached on first use."""
    if split not in SPLITS:
        raise DatasetError(f"edges2fashion has no split {split!r}; choose one of "
                           f"{', '.join(SPLITS)}")
    return dict(_load_cached(split, cache_file(split)))


SPEC = DatasetSpec(name="edges2fashion", kind="images",
                   fields={"a": image_field(28, 28, 1), "b": image_field(28, 28, 1),
                           "label": label_field(len(_data.FASHION_MNIST_CLASSES))},
                   num_classes=len(_data.FASHION_MNIST_CLASSES), splits=SPLITS,
                   class_names=_data.FASHION_MNIST_CLASSES)

_data.register(Dataset(
    name="edges2fashion",
    description="pairs (Canny edge map, garment) of Fashion-MNIST: a, b uint8 28x28x1, "
                "10 classes; train a -> b with --config.source=paired",
    spec=lambda config: SPEC, load=lambda config, split: load(split),
    how_to_get=f"built from Fashion-MNIST: {fashion_mnist.how_to_get_it()}"))
