"""Tests of the data sources: the Fashion-MNIST TFDS builder and the toy 2-D
distributions.

The real-data tests use the Debian files and the default TFDS data dir, so the
first run prepares the dataset there (about 6 s); they are skipped where the
files are not installed. Every other Fashion-MNIST test writes tiny IDX files
into tmp_path and prepares them into its own data dir.
"""

import gzip
import os
import sys

import jax
import numpy as np
import pytest
from scipy import stats

from jaxgen.data import fashion_mnist
from jaxgen.data import toy2d
from jaxgen.errors import DatasetError

# ---------------------------------------------------------------------------
# Fashion-MNIST helpers
# ---------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """Unsigned-byte IDX encoding: 0, 0, type 0x08, ndim, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def write_gzip(path, payload: bytes) -> None:
    with gzip.open(path, "wb") as f:
        f.write(payload)


def write_fake_source(folder, num_train=20, num_test=10, seed=0):
    """Random images and labels as the four IDX .gz files; returns the arrays."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    arrays = {}
    for split, num in (("train", num_train), ("test", num_test)):
        images = rng.integers(0, 256, (num, 28, 28), dtype=np.uint8)  # [N, 28, 28]
        labels = rng.integers(0, 10, (num,), dtype=np.uint8)  # [N]
        images_name, labels_name = fashion_mnist.SOURCE_FILES[split]
        write_gzip(os.path.join(folder, images_name), idx_bytes(images))
        write_gzip(os.path.join(folder, labels_name), idx_bytes(labels))
        arrays[split] = (images, labels)
    return arrays


@pytest.fixture
def fake_env(tmp_path, monkeypatch):
    """A source folder and a data dir of this test's own; download off."""
    source = tmp_path / "source"
    source.mkdir()
    monkeypatch.setenv(fashion_mnist.SOURCE_DIR_ENV, str(source))
    monkeypatch.delenv(fashion_mnist.DOWNLOAD_ENV, raising=False)
    return source, str(tmp_path / "tfds")


# ---------------------------------------------------------------------------
# Fashion-MNIST on the real Debian files
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_splits():
    if fashion_mnist.missing_source_files(fashion_mnist.source_dir()):
        pytest.skip("Fashion-MNIST IDX files not installed (apt-get install "
                    "dataset-fashion-mnist)")
    return {split: fashion_mnist.load(split) for split in fashion_mnist.SPLITS}


@pytest.mark.parametrize("split, num", [("train", 60_000), ("test", 10_000)])
def test_real_split_shapes_dtypes_and_balanced_labels(real_splits, split, num):
    data = real_splits[split]
    assert set(data) == {"image", "label"}
    assert data["image"].shape == (num, 28, 28, 1)
    assert data["image"].dtype == np.uint8
    assert data["label"].shape == (num,)
    assert data["label"].dtype == np.int32
    assert data["label"].min() >= 0 and data["label"].max() <= 9
    # Fashion-MNIST is exactly balanced: 6,000 / 1,000 examples per class.
    np.testing.assert_array_equal(np.bincount(data["label"], minlength=10),
                                  np.full(10, num // 10))
    assert data["image"].max() == 255  # real pixels, not an all-zero decode


def test_real_load_is_cached_read_only_and_needs_no_tensorflow(real_splits):
    again = fashion_mnist.load("train")
    assert again["image"] is real_splits["train"]["image"]  # served from memory
    with pytest.raises(ValueError):
        again["image"][0, 0, 0, 0] = 1  # shared cache must not be editable
    assert "tensorflow" not in sys.modules


# ---------------------------------------------------------------------------
# Fashion-MNIST on fake IDX files
# ---------------------------------------------------------------------------


def test_fake_idx_round_trips_exactly_in_order(fake_env):
    source, data_dir = fake_env
    written = write_fake_source(source, num_train=20, num_test=10)
    for split, (images, labels) in written.items():
        data = fashion_mnist.load(split, data_dir)
        np.testing.assert_array_equal(data["image"], images[..., None])
        np.testing.assert_array_equal(data["label"], labels.astype(np.int32))
        assert data["image"].dtype == np.uint8 and data["label"].dtype == np.int32
    prepared = os.listdir(os.path.join(data_dir, fashion_mnist.TFDS_NAME, "1.0.0"))
    assert any(".array_record" in name for name in prepared)


def test_empty_folder_says_how_to_get_the_data(fake_env):
    _, data_dir = fake_env
    with pytest.raises(DatasetError, match="dataset-fashion-mnist") as info:
        fashion_mnist.load("train", data_dir)
    assert fashion_mnist.SOURCE_DIR_ENV in str(info.value)
    assert fashion_mnist.DOWNLOAD_ENV in str(info.value)


def test_failed_download_is_the_same_clear_error(fake_env, monkeypatch):
    _, data_dir = fake_env

    def unreachable(url, timeout_s=10.0):
        raise OSError("simulated: network is unreachable")

    monkeypatch.setattr(fashion_mnist, "check_reachable", unreachable)
    with pytest.raises(DatasetError, match="dataset-fashion-mnist") as info:
        fashion_mnist.load("test", data_dir, download=True)
    assert "download" in str(info.value) and "simulated" in str(info.value)


def test_unknown_split_is_a_dataset_error():
    with pytest.raises(DatasetError, match="train, test"):
        fashion_mnist.load("validation")


def test_truncated_gzip_is_a_dataset_error(fake_env):
    source, data_dir = fake_env
    write_fake_source(source)
    path = source / fashion_mnist.SOURCE_FILES["train"][0]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError, match="truncated"):
        fashion_mnist.load("train", data_dir)


def test_idx_shorter_than_its_header_declares_is_a_dataset_error(fake_env):
    source, data_dir = fake_env
    write_fake_source(source)
    labels = np.zeros(10, np.uint8)
    write_gzip(source / fashion_mnist.SOURCE_FILES["test"][1], idx_bytes(labels)[:-3])
    with pytest.raises(DatasetError, match="truncated"):
        fashion_mnist.load("test", data_dir)


def test_wrong_magic_and_mismatched_counts_are_dataset_errors(tmp_path):
    images_path, labels_path = tmp_path / "images.gz", tmp_path / "labels.gz"
    write_gzip(labels_path, idx_bytes(np.zeros(4, np.uint8)))
    # Labels where images belong: 1 dimension instead of 3.
    with pytest.raises(DatasetError, match="magic"):
        fashion_mnist.read_idx_images(str(labels_path))
    write_gzip(images_path, idx_bytes(np.zeros((5, 28, 28), np.uint8)))
    with pytest.raises(DatasetError, match="5 images but"):
        fashion_mnist.read_idx_split(str(images_path), str(labels_path))


# ---------------------------------------------------------------------------
# Toy 2-D distributions
# ---------------------------------------------------------------------------

NUM_POINTS = 4000
# A chi-square statistic above its 1e-9 upper quantile: practically never by
# chance, yet far below what a skipped or doubled mode produces.
CHI2_TAIL = 1e-9


def chi_square_stat(counts: np.ndarray) -> float:
    expected = counts.sum() / len(counts)
    return float(((counts - expected) ** 2 / expected).sum())


# One compilation per (name, num) instead of one per primitive: keeps the
# toy tests to about a second in all.
sample_jit = jax.jit(toy2d.sample, static_argnums=(0, 2))


def draw(name, seed=0, num=NUM_POINTS) -> np.ndarray:
    return np.asarray(sample_jit(name, jax.random.key(seed), num))


@pytest.mark.parametrize("name", toy2d.NAMES)
def test_toy_shape_dtype_and_determinism(name):
    points = sample_jit(name, jax.random.key(0), 257)
    assert points.shape == (257, 2) and points.dtype == np.float32
    assert np.isfinite(np.asarray(points)).all()
    np.testing.assert_array_equal(points, sample_jit(name, jax.random.key(0), 257))
    assert not np.allclose(points, sample_jit(name, jax.random.key(1), 257))


def test_toy_sample_runs_eagerly_too():
    eager = toy2d.sample("ring8", jax.random.key(0), 16)
    np.testing.assert_allclose(eager, sample_jit("ring8", jax.random.key(0), 16),
                               atol=1e-6)


@pytest.mark.parametrize("name, num_modes", [("ring8", 8), ("grid25", 25)])
def test_mixture_points_sit_at_their_modes_in_uniform_numbers(name, num_modes):
    centers, std = toy2d.mode_centers(name), toy2d.mode_std(name)
    assert centers.shape == (num_modes, 2)
    points = draw(name, num=400 * num_modes)  # [N, 2]
    distances = np.linalg.norm(points[:, None] - centers[None], axis=-1)  # [N, M]
    nearest = distances.min(axis=1)  # [N]
    # The radius of a 2-D Gaussian exceeds 4 std with probability e^-8 (3e-4)
    # and 6 std with e^-18: "all within 4 std" would fail for some seeds.
    assert (nearest < 4 * std).mean() > 0.995
    assert nearest.max() < 6 * std
    counts = np.bincount(distances.argmin(axis=1), minlength=num_modes)
    assert chi_square_stat(counts) < stats.chi2.isf(CHI2_TAIL, num_modes - 1)


def test_mode_centers_are_the_pacgan_layouts():
    ring = toy2d.mode_centers("ring8")
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 1.0, atol=1e-12)
    assert toy2d.mode_std("ring8") == 0.01
    grid = {tuple(c) for c in toy2d.mode_centers("grid25")}
    assert grid == {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert toy2d.mode_std("grid25") == 0.05


def distance_to_moons(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each point to the upper and to the lower noiseless arc."""
    offset = np.asarray(toy2d.MOONS_OFFSET)

    def to_arc(center, upper):
        d = points - center  # [N, 2]
        angle = np.arctan2(d[:, 1], d[:, 0])
        on_span = angle >= 0 if upper else angle <= 0
        to_circle = np.abs(np.linalg.norm(d, axis=1) - 1.0)
        ends = center + np.array([[1.0, 0.0], [-1.0, 0.0]])  # both arcs end at +-1
        to_ends = np.linalg.norm(points[:, None] - ends[None], axis=-1).min(axis=1)
        return np.where(on_span, to_circle, to_ends)

    return to_arc(-offset, True), to_arc(np.array([1.0, 0.5]) - offset, False)


def test_moons_lie_on_two_equally_likely_arcs():
    upper, lower = distance_to_moons(draw("moons"))
    nearest = np.minimum(upper, lower)
    assert nearest.max() < 6 * toy2d.MOONS_NOISE_STD
    fraction_lower = (lower < upper).mean()
    assert abs(fraction_lower - 0.5) < 0.05  # 6 standard errors at 4,000 points


def test_checkerboard_is_uniform_on_black_squares():
    points = draw("checkerboard")
    assert (points >= -2).all() and (points < 2).all()
    cells = np.floor(points).astype(int)  # [N, 2] in -2..1
    assert ((cells.sum(axis=1) % 2) == 0).all()
    square_ids = (cells[:, 0] + 2) * 4 + (cells[:, 1] + 2)
    counts = np.bincount(square_ids, minlength=16)
    counts = counts[counts > 0]
    assert len(counts) == 8
    assert chi_square_stat(counts) < stats.chi2.isf(CHI2_TAIL, 7)


def test_swiss_roll_fills_roughly_the_unit_disc():
    points = draw("swiss_roll")
    radius = np.linalg.norm(points, axis=1)
    assert radius.max() < 1.0 + 6 * toy2d.SWISS_ROLL_NOISE_STD
    assert radius.min() > 1.5 / 4.5 - 6 * toy2d.SWISS_ROLL_NOISE_STD  # inner end
    assert (points.max(axis=0) > 0.5).all() and (points.min(axis=0) < -0.5).all()


def test_unknown_toy_names_list_the_known_ones():
    known = "ring8, grid25, moons, swiss_roll, checkerboard"
    with pytest.raises(DatasetError, match=known):
        toy2d.sample("spiral", jax.random.key(0), 4)
    with pytest.raises(DatasetError, match="no discrete modes"):
        toy2d.mode_centers("moons")
    with pytest.raises(DatasetError, match="known"):
        toy2d.mode_std("nope")
