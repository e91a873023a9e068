"""Small stand-ins for Fashion-MNIST and the photographs, so the built
datasets (fashion_mnist_m, edges2fashion) run their real loading code in
milliseconds: `fake_fashion` patches `fashion_mnist.load` and
`fashion_mnist_m.load_photos` and points the array cache at tmp_path.

Fake garment i is a bright rectangle of value FAKE_VALUE(i) on black, so an
image identifies its index; fake photo p has red = row, green = column and
blue = 100 + p, so a crop identifies where it was cut.
"""
from __future__ import annotations

import numpy as np
import pytest

from jaxgen.data import edges2fashion, fashion_mnist, fashion_mnist_m

FAKE_SIZES = {"train": 40, "test": 20}
PHOTO_SHAPES = ((40, 50), (33, 61))


def fake_value(index) -> int:
    return 10 + 5 * np.asarray(index)  # 10 .. 205 for index < 40


def fake_garments(split: str) -> dict:
    num = FAKE_SIZES[split]
    offset = 0 if split == "train" else 1  # the test split's rectangles sit elsewhere
    images = np.zeros((num, 28, 28, 1), np.uint8)
    for i in range(num):
        images[i, 5 + offset:20 + offset, 8:22 - i % 3, 0] = fake_value(i)
    labels = (np.arange(num) % 10).astype(np.int32)
    return {"image": images, "label": labels}


def coordinate_photo(height: int, width: int, photo_id: int) -> np.ndarray:
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    blue = np.full((height, width), 100 + photo_id)
    return np.stack([rows, cols, blue], axis=-1).astype(np.uint8)  # [H, W, 3]


def fake_photos(names) -> list:
    return [coordinate_photo(h, w, p) for p, (h, w) in enumerate(PHOTO_SHAPES)]


def clear_loader_caches() -> None:
    fashion_mnist_m._load_cached.cache_clear()
    edges2fashion._load_cached.cache_clear()


@pytest.fixture
def fake_fashion(tmp_path, monkeypatch):
    """Fake Fashion-MNIST and photos; the array cache in tmp_path/arrays."""
    monkeypatch.setenv("JAXGEN_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(fashion_mnist, "load", fake_garments)
    monkeypatch.setattr(fashion_mnist_m, "load_photos", fake_photos)
    clear_loader_caches()
    yield tmp_path / "arrays"
    clear_loader_caches()
