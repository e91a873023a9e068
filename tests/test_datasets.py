"""The built datasets: fashion_mnist_m (MNIST-M's blend over photo crops) and
edges2fashion (a numpy Canny detector), on hand-computed answers, with their
loaders run on small fakes (tests/fake_datasets.py) and once on real data
where Fashion-MNIST and scikit-image are installed."""
import os
import sys

import numpy as np
import pytest

from fake_datasets import (FAKE_SIZES, PHOTO_SHAPES, fake_fashion, fake_garments,  # noqa: F401
                           fake_photos)
from jaxgen import data
from jaxgen.data import edges2fashion, fashion_mnist, fashion_mnist_m
from jaxgen.errors import DatasetError

# ---------------------------------------------------------------------------
# fashion_mnist_m: the blend and the crops
# ---------------------------------------------------------------------------


def test_blend_is_the_absolute_difference_per_channel_by_hand():
    images = np.array([[[0], [255]], [[100], [30]]], np.uint8)[None]  # [1, 2, 2, 1]
    patches = np.array([[[10, 200, 50], [10, 200, 50]],
                        [[120, 90, 100], [0, 30, 255]]], np.uint8)[None]  # [1, 2, 2, 3]
    expected = np.array([[[10, 200, 50], [245, 55, 205]],  # 0: the patch; 255: 255 - patch
                         [[20, 10, 0], [30, 0, 225]]], np.uint8)[None]
    out = fashion_mnist_m.blend(images, patches)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


def test_build_cuts_whole_crops_that_fit_inside_the_photos():
    photos = fake_photos(None)
    images = np.zeros((300, 28, 28, 1), np.uint8)  # black: the output is the crop itself
    out = fashion_mnist_m.build(images, photos, seed=3).astype(int)  # [N, 28, 28, 3]
    photo = out[:, 0, 0, 2] - 100  # blue holds the photo's id
    assert set(photo.tolist()) == {0, 1}
    heights = np.array([h for h, _ in PHOTO_SHAPES])[photo]
    widths = np.array([w for _, w in PHOTO_SHAPES])[photo]
    top, left = out[:, 0, 0, 0], out[:, 0, 0, 1]  # red = row, green = column
    assert (top >= 0).all() and (top + 28 <= heights).all()
    assert (left >= 0).all() and (left + 28 <= widths).all()
    offsets = np.arange(28)
    np.testing.assert_array_equal(out[..., 0], np.broadcast_to(
        top[:, None, None] + offsets[None, :, None], (300, 28, 28)))
    np.testing.assert_array_equal(out[..., 1], np.broadcast_to(
        left[:, None, None] + offsets[None, None, :], (300, 28, 28)))
    # Every corner position of the small photo (rows 0..5, columns 0..33) is drawn.
    small = photo == 1
    assert set(top[small].tolist()) == set(range(33 - 28 + 1))
    assert set(left[small].tolist()) == set(range(61 - 28 + 1))


def test_build_blends_each_garment_with_its_crop_and_is_deterministic():
    photos = fake_photos(None)
    garments = fake_garments("train")["image"]
    crops = fashion_mnist_m.build(np.zeros_like(garments), photos, seed=(0, 0))
    out = fashion_mnist_m.build(garments, photos, seed=(0, 0))
    # The crops depend on the seed only, so the black build shows each crop.
    np.testing.assert_array_equal(out, fashion_mnist_m.blend(garments, crops))
    inside = np.broadcast_to(garments > 0, out.shape)
    assert (out[~inside] == crops[~inside]).all()  # outside the garment: the photo
    np.testing.assert_array_equal(out, fashion_mnist_m.build(garments, photos, seed=(0, 0)))
    assert not np.array_equal(out, fashion_mnist_m.build(garments, photos, seed=(0, 1)))


def test_build_refuses_colour_input():
    with pytest.raises(ValueError, match="grey images"):
        fashion_mnist_m.build(np.zeros((2, 28, 28, 3), np.uint8), fake_photos(None), 0)


def test_train_and_test_photographs_are_disjoint_and_load_offline():
    assert not set(fashion_mnist_m.TRAIN_PHOTOS) & set(fashion_mnist_m.TEST_PHOTOS)
    pytest.importorskip("skimage")
    pytest.importorskip("sklearn")
    photos = {}
    for split in fashion_mnist_m.SPLITS:
        names = fashion_mnist_m.PHOTOS[split]
        for name, photo in zip(names, fashion_mnist_m.load_photos(names)):
            assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3
            assert min(photo.shape[:2]) >= 28
            photos[name] = photo
    # No photograph is another's copy (scikit-image's `cat` is `chelsea`).
    names = sorted(photos)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert photos[a].shape != photos[b].shape or not np.array_equal(photos[a], photos[b])


def test_missing_scikit_image_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)  # makes `import skimage` fail
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(DatasetError, match="pip install scikit-image scikit-learn"):
        fashion_mnist_m.load_photos(fashion_mnist_m.TRAIN_PHOTOS)


def test_fashion_mnist_m_loads_builds_once_and_caches(fake_fashion, monkeypatch):
    for split in ("train", "test"):
        arrays = data.get("fashion_mnist_m").load(None, split)
        garments = fake_garments(split)
        expected = fashion_mnist_m.build(garments["image"], fake_photos(None),
                                         fashion_mnist_m.split_seed(split))
        assert arrays["image"].shape == (FAKE_SIZES[split], 28, 28, 3)
        np.testing.assert_array_equal(arrays["image"], expected)
        np.testing.assert_array_equal(arrays["label"], garments["label"])
        assert arrays["label"].dtype == np.int32
        assert os.path.isfile(fashion_mnist_m.cache_file(split))
        assert fashion_mnist_m.cache_file(split).startswith(str(fake_fashion))
    with pytest.raises(ValueError):
        arrays["image"][0, 0, 0, 0] = 1  # the in-process copy is shared: read-only
    # A fresh process reads the file and never rebuilds.
    fashion_mnist_m._load_cached.cache_clear()
    monkeypatch.setattr(fashion_mnist_m, "build_split", lambda split: 1 / 0)
    np.testing.assert_array_equal(fashion_mnist_m.load("test")["image"], expected)
    assert not [n for n in os.listdir(fake_fashion / "fashion_mnist_m") if n.startswith(".tmp")]


def test_fashion_mnist_m_spec_and_unknown_split():
    spec = data.get("fashion_mnist_m").spec(None)
    assert spec.image_shape == (28, 28, 3) and spec.fields["image"].dtype == np.uint8
    assert spec.num_classes == 10 and spec.class_names == data.FASHION_MNIST_CLASSES
    with pytest.raises(DatasetError, match="train, test"):
        fashion_mnist_m.load("validation")


@pytest.fixture(scope="module")
def real_test_split():
    if fashion_mnist.missing_source_files(fashion_mnist.source_dir()):
        pytest.skip("Fashion-MNIST is not installed")
    pytest.importorskip("skimage")
    pytest.importorskip("sklearn")
    return fashion_mnist.load("test"), fashion_mnist_m.load("test")


def test_real_fashion_mnist_m_is_the_recipe_on_fashion_mnist(real_test_split):
    garments, blended = real_test_split
    assert blended["image"].shape == (10_000, 28, 28, 3)
    np.testing.assert_array_equal(blended["label"], garments["label"])
    # The cached file is the recipe: the crops of the test photographs (seen
    # through a black build with the same seed), blended with each garment.
    photos = fashion_mnist_m.load_photos(fashion_mnist_m.TEST_PHOTOS)
    crops = fashion_mnist_m.build(np.zeros_like(garments["image"]), photos,
                                  fashion_mnist_m.split_seed("test"))
    np.testing.assert_array_equal(blended["image"],
                                  fashion_mnist_m.blend(garments["image"], crops))


# ---------------------------------------------------------------------------
# edges2fashion: the Canny detector on known answers
# ---------------------------------------------------------------------------


def test_gaussian_kernel_and_sobel_scale():
    kernel = edges2fashion.gaussian_kernel(1.0)
    np.testing.assert_allclose(kernel.sum(), 1.0)
    np.testing.assert_array_equal(kernel, kernel[::-1])
    step = np.zeros((1, 6, 8))
    step[:, :, 4:] = 1.0
    gx, gy = edges2fashion.sobel(step)
    np.testing.assert_array_equal(gy, 0.0)
    np.testing.assert_array_equal(gx[0, :, 3:5], 0.5)  # the two pixels beside the step
    np.testing.assert_array_equal(gx[0, :, [0, 1, 2, 5, 6, 7]], 0.0)


@pytest.mark.parametrize("bright_side", ["right", "left"])
def test_a_straight_step_gives_one_line_one_pixel_wide(bright_side):
    image = np.zeros((1, 28, 28))
    if bright_side == "right":
        image[0, :, 14:] = 1.0
    else:
        image[0, :, :14] = 1.0
    edges = edges2fashion.canny(image)[0]
    # The two equal pixels beside the step: the tie rule keeps the first (column 13).
    expected = np.zeros((28, 28), bool)
    expected[:, 13] = True
    np.testing.assert_array_equal(edges, expected)
    np.testing.assert_array_equal(edges2fashion.canny(image.transpose(0, 2, 1))[0], expected.T)


def test_a_square_gives_its_closed_outline():
    image = np.zeros((1, 28, 28))
    image[0, 8:20, 8:20] = 1.0  # rows and columns 8..19
    edges = edges2fashion.canny(image)[0]
    rows, cols = np.nonzero(edges)
    # Every edge pixel lies on the boundary, within one pixel: in the band 7..8
    # or 19..20 of a row or a column, and nowhere inside or far outside.
    near = lambda v: (7 <= v) & (v <= 8) | (19 <= v) & (v <= 20)
    assert (near(rows) & (cols >= 7) & (cols <= 20) | near(cols) & (rows >= 7) & (rows <= 20)).all()
    # Away from the corners each side is one pixel wide: one edge pixel per line.
    for k in range(10, 18):
        assert edges[k, :14].sum() == 1 and edges[k, 14:].sum() == 1
        assert edges[:14, k].sum() == 1 and edges[14:, k].sum() == 1
    # The outline is closed: one 8-connected component (flood fill from one pixel).
    seen, todo = set(), [(rows[0], cols[0])]
    while todo:
        r, c = todo.pop()
        if (r, c) in seen or not edges[r, c]:
            continue
        seen.add((r, c))
        todo += [(r + dr, c + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                 if 0 <= r + dr < 28 and 0 <= c + dc < 28]
    assert len(seen) == len(rows) >= 4 * 11


def test_a_constant_image_has_no_edges():
    for value in (0.0, 0.7):
        assert not edges2fashion.canny(np.full((2, 28, 28), value)).any()


def test_hysteresis_keeps_weak_pixels_only_when_connected_to_strong_ones():
    magnitude = np.array([[[0.9, 0.5, 0.5, 0.0, 0.5],
                           [0.0, 0.0, 0.0, 0.5, 0.0],
                           [0.5, 0.0, 0.0, 0.0, 0.0]]])
    candidates = magnitude > 0
    edges = edges2fashion.hysteresis(candidates, magnitude, low=0.4, high=0.8)
    expected = np.array([[[1, 1, 1, 0, 1],  # a weak chain through a diagonal step
                          [0, 0, 0, 1, 0],
                          [0, 0, 0, 0, 0]]], bool)  # the isolated weak pixel is dropped
    np.testing.assert_array_equal(edges, expected)


def test_edge_maps_are_dark_edges_on_white():
    garments = fake_garments("train")["image"][:4]
    maps = edges2fashion.edge_maps(garments)
    assert maps.shape == garments.shape and maps.dtype == np.uint8
    assert set(np.unique(maps).tolist()) == {0, 255}
    np.testing.assert_array_equal(maps[..., 0] == 0, edges2fashion.canny(garments[..., 0] / 255.0))


def test_edges2fashion_loads_pairs_and_caches(fake_fashion, monkeypatch):
    arrays = data.get("edges2fashion").load(None, "train")
    garments = fake_garments("train")
    assert set(arrays) == {"a", "b", "label"}
    np.testing.assert_array_equal(arrays["b"], garments["image"])
    np.testing.assert_array_equal(arrays["a"], edges2fashion.edge_maps(garments["image"]))
    np.testing.assert_array_equal(arrays["label"], garments["label"])
    edges2fashion._load_cached.cache_clear()
    monkeypatch.setattr(edges2fashion, "build_split", lambda split: 1 / 0)
    np.testing.assert_array_equal(edges2fashion.load("train")["a"], arrays["a"])
    spec = data.get("edges2fashion").spec(None)
    assert spec.image_shape == (28, 28, 1) and set(spec.fields) == {"a", "b", "label"}
