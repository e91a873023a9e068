"""image_folder and celeba on small folders written by the tests: PNG and
JPEG, grey and colour, class sub-folders, train/ and test/ folders, a fake
mini CelebA, the cache, and every refusal."""
import os

import numpy as np
import pytest
from PIL import Image

from jaxgen import data
from jaxgen.data import celeba, image_folder
from jaxgen.engine import config as config_lib
from jaxgen.errors import ConfigError, DatasetError


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXGEN_DATA_DIR", str(tmp_path / "cache"))


def folder_config(dataset="image_folder", path="", **keys):
    c = config_lib.base_config()
    c.dataset, c.data_path = dataset, str(path)
    for key, value in keys.items():
        c[key] = value
    return c


def solid(path, value, size=(20, 14), mode="RGB"):
    """A one-colour image file; `value` an int (grey) or an RGB triple."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    colour = value if mode == "L" else tuple(value) if np.ndim(value) else (value,) * 3
    Image.new(mode, size, colour).save(path)
    return path


def load(config, split):
    return data.get(config.dataset).load(config, split)


# ---------------------------------------------------------------------------
# Decoding: resize the short side, centre-crop, grey or RGB
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("landscape", [True, False])
def test_short_side_resized_then_centre_cropped(tmp_path, landscape):
    # 60x20: red | green (columns 10..49) | red. Resized to 30x10, the centred
    # 10x10 crop is original columns 20..39: green, 5 resized pixels away from
    # the red, beyond the Lanczos filter's reach (3 pixels at this scale).
    pixels = np.zeros((20, 60, 3), np.uint8)
    pixels[..., 0] = 255
    pixels[:, 10:50] = (0, 255, 0)
    if not landscape:
        pixels = pixels.transpose(1, 0, 2).copy()
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    out = image_folder.decode(str(tmp_path / "wide.png"), 10, 3)
    assert out.shape == (10, 10, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.broadcast_to([0, 255, 0], (10, 10, 3)))


def test_small_images_are_enlarged_and_grey_uses_pillow_luma(tmp_path):
    path = solid(tmp_path / "tiny.jpg", (200, 100, 50), size=(5, 7))
    assert image_folder.decode(str(path), 32, 3).shape == (32, 32, 3)
    png = solid(tmp_path / "c.png", (200, 100, 50), size=(5, 7))
    grey = image_folder.decode(str(png), 8, 1)
    assert grey.shape == (8, 8, 1)
    # ITU-R 601-2 luma, as Pillow computes it: 0.299 R + 0.587 G + 0.114 B = 124.2
    np.testing.assert_array_equal(grey, 124)
    np.testing.assert_array_equal(image_folder.decode(str(png), 8, 3), np.broadcast_to(
        [200, 100, 50], (8, 8, 3)))


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.full((6, 6), 40000, np.uint16)).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    np.testing.assert_array_equal(image_folder.decode(str(tmp_path / "deep.png"), 4, 1),
                                  round(40000 / 257))


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (30, 10), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 15, 10))  # red on the left half, blue on the right
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view": the left half shows on top
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=95, subsampling=0)
    out = image_folder.decode(str(tmp_path / "rotated.jpg"), 10, 3).astype(int)
    # Upright it is 10 wide and 30 tall; the centred square is red above, blue below
    # (unrotated, the square would be red on the left, blue on the right).
    assert out.shape == (10, 10, 3)
    assert (out[:3, :, 0] > 180).all() and (out[:3, :, 2] < 80).all()
    assert (out[-3:, :, 2] > 180).all() and (out[-3:, :, 0] < 80).all()


# ---------------------------------------------------------------------------
# Folders: labels, splits, shapes
# ---------------------------------------------------------------------------


def class_folder(root, counts=(12, 9)):
    """PNG colour images in cats/, JPEG grey ones in dogs/; image k of a class
    is the solid value 10 * k + 1 (cats) or 10 * k + 5 (dogs)."""
    for k in range(counts[0]):
        solid(root / "cats" / f"{k:02d}.png", 10 * k + 1)
    for k in range(counts[1]):
        solid(root / "dogs" / f"{k:02d}.JPG", 10 * k + 5, mode="L")
    return root


def test_sub_folders_are_classes_and_every_tenth_image_is_a_test_image(tmp_path):
    root = class_folder(tmp_path / "pets")
    config = folder_config(path=root, image_size=8)
    spec = data.spec(config)
    assert spec.class_names == ("cats", "dogs") and spec.num_classes == 2
    assert spec.image_shape == (8, 8, 3) and spec.labelled
    train, test = load(config, "train"), load(config, "test")
    # Sorted paths: cats/00..11 then dogs/00..08 (21 images); test = indices 9, 19.
    np.testing.assert_array_equal(test["label"], [0, 1])
    # dogs/ are JPEGs: their solid grey may move by a level or two.
    np.testing.assert_allclose(test["image"][:, 0, 0, 0], [91, 75], atol=2)
    assert len(train["image"]) == 19 and train["image"].shape[1:] == (8, 8, 3)
    np.testing.assert_array_equal(train["label"], [0] * 11 + [1] * 8)
    np.testing.assert_allclose(train["image"][:, 0, 0, 0], [1, 11, 21, 31, 41, 51, 61, 71, 81,
                                                            101, 111, 5, 15, 25, 35, 45, 55,
                                                            65, 85], atol=2)
    grey = load(folder_config(path=root, image_size=8, channels=1), "train")["image"]
    assert grey.shape == (19, 8, 8, 1)
    np.testing.assert_array_equal(grey[..., 0], train["image"][..., 0])


def test_images_at_the_top_make_the_folder_unlabelled(tmp_path):
    root = class_folder(tmp_path / "mixed", counts=(5, 5))
    solid(root / "loose.png", 250)
    config = folder_config(path=root)
    spec = data.spec(config)
    assert spec.num_classes == 0 and set(spec.fields) == {"image"}
    assert spec.image_shape == (32, 32, 3)  # image_size 0 means 32, channels 0 means 3
    arrays = load(config, "train")
    assert set(arrays) == {"image"} and len(arrays["image"]) == 10  # 11 images, 1 test


def test_train_and_test_folders_are_the_splits(tmp_path):
    root = tmp_path / "split"
    class_folder(root / "train", counts=(3, 2))
    solid(root / "test" / "dogs" / "a.png", 77)
    solid(root / "test" / "owls" / "b.png", 99)  # a class only the test split has
    config = folder_config(path=root, image_size=4)
    assert data.spec(config).class_names == ("cats", "dogs", "owls")
    train, test = load(config, "train"), load(config, "test")
    np.testing.assert_array_equal(train["label"], [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(test["label"], [1, 2])
    np.testing.assert_array_equal(test["image"][:, 0, 0, 0], [77, 99])


def test_the_cache_is_used_and_a_changed_folder_rebuilt(tmp_path, monkeypatch):
    root = class_folder(tmp_path / "pets", counts=(10, 0))
    config = folder_config(path=root, image_size=4)
    first = load(config, "train")["image"]
    cached = os.listdir(tmp_path / "cache" / "arrays" / "image_folder")
    assert len(cached) == 1
    real_decode = image_folder.decode
    monkeypatch.setattr(image_folder, "decode", lambda *a: 1 / 0)
    np.testing.assert_array_equal(load(config, "train")["image"], first)  # no decoding
    monkeypatch.setattr(image_folder, "decode", real_decode)
    path = root / "cats" / "03.png"
    solid(path, 200)
    os.utime(path, ns=(1, 1))  # a different modification time, whatever the clock says
    changed = load(config, "train")["image"]
    assert changed[3, 0, 0, 0] == 200 and first[3, 0, 0, 0] == 31
    np.testing.assert_array_equal(np.delete(changed, 3, 0), np.delete(first, 3, 0))


# ---------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------


def test_missing_data_path_and_bad_keys_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="data_path"):
        data.spec(folder_config())
    with pytest.raises(ConfigError, match="channels must be 1"):
        data.spec(folder_config(path=tmp_path, channels=2))
    with pytest.raises(ConfigError, match="image_size must be positive"):
        data.spec(folder_config(path=tmp_path, image_size=-4))


def test_missing_empty_and_non_folder_paths_are_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        data.spec(folder_config(path=tmp_path / "nowhere"))
    (tmp_path / "notes.txt").write_text("not images")
    with pytest.raises(DatasetError, match="is not a folder"):
        data.spec(folder_config(path=tmp_path / "notes.txt"))
    root = tmp_path / "folder"
    root.mkdir()
    (root / "notes.txt").write_text("not images")
    with pytest.raises(DatasetError, match="no train images"):
        load(folder_config(path=root), "train")  # a .txt file only
    solid(root / "only.png", 3)
    with pytest.raises(DatasetError, match="no test images"):
        load(folder_config(path=root), "test")  # one image: no tenth one


def test_unreadable_folder_is_a_dataset_error(tmp_path, monkeypatch):
    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(DatasetError, match="cannot read the image folder"):
        data.spec(folder_config(path=tmp_path))


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_file_is_refused_by_name(tmp_path, damage):
    root = class_folder(tmp_path / "pets", counts=(4, 4))
    bad = root / "dogs" / "02.JPG"
    if damage == "garbage":
        bad.write_bytes(b"this is not a JPEG")
    else:
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)).save(bad)
        bad.write_bytes(bad.read_bytes()[:300])
    with pytest.raises(DatasetError, match="02.JPG"):
        load(folder_config(path=root), "train")


def test_data_keys_are_refused_by_datasets_that_do_not_read_them(tmp_path):
    config = folder_config(dataset="fashion_mnist", path=tmp_path)
    with pytest.raises(ConfigError, match="does not read data_path"):
        data.validate(config)
    data.validate(folder_config(path=class_folder(tmp_path / "ok", counts=(1, 1))))


# ---------------------------------------------------------------------------
# celeba on a fake mini CelebA
# ---------------------------------------------------------------------------


def mini_celeba(root, num=12, partition=True, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.choice([-1, 1], (num, 40))
    lines = [str(num), " ".join(celeba.ATTRIBUTES)]
    for k in range(num):
        name = f"{k + 1:06d}.jpg"
        solid(root / celeba.IMAGES_DIR / name, 20 * k, size=(18, 22))  # 178x218 in miniature
        lines.append(f"{name} " + " ".join(f"{v:2d}" for v in values[k]))
    (root / celeba.ATTRIBUTES_FILE).write_text("\n".join(lines) + "\n")
    if partition:  # codes 0 0 1 2 0 0 1 2 ...
        rows = [f"{k + 1:06d}.jpg {[0, 0, 1, 2][k % 4]}" for k in range(num)]
        (root / celeba.PARTITION_FILE).write_text("\n".join(rows) + "\n")
    return (values + 1) // 2


def test_celeba_attributes_and_official_partition(tmp_path):
    expected = mini_celeba(tmp_path)
    config = folder_config(dataset="celeba", path=tmp_path, image_size=16)
    spec = data.spec(config)
    assert spec.splits == ("train", "validation", "test") and spec.num_classes == 0
    assert spec.fields["attributes"].shape == (40,) and spec.image_shape == (16, 16, 3)
    data.validate(config)
    for split, rows in (("train", [0, 1, 4, 5, 8, 9]), ("validation", [2, 6, 10]),
                        ("test", [3, 7, 11])):
        arrays = load(config, split)
        assert set(arrays) == {"image", "attributes"}
        np.testing.assert_array_equal(arrays["attributes"], expected[rows])
        assert arrays["attributes"].dtype == np.int32
        np.testing.assert_allclose(arrays["image"][:, 8, 8, 0], 20 * np.array(rows), atol=2)


def test_celeba_without_partition_uses_every_tenth(tmp_path):
    expected = mini_celeba(tmp_path, num=21, partition=False)
    config = folder_config(dataset="celeba", path=tmp_path, image_size=8, channels=1)
    assert data.spec(config).splits == ("train", "test")
    test = load(config, "test")
    np.testing.assert_array_equal(test["attributes"], expected[[9, 19]])
    assert test["image"].shape == (2, 8, 8, 1)
    assert len(load(config, "train")["image"]) == 19


def test_celeba_refusals(tmp_path):
    with pytest.raises(DatasetError, match="img_align_celeba"):
        data.spec(folder_config(dataset="celeba", path=tmp_path))
    mini_celeba(tmp_path, num=4)
    config = folder_config(dataset="celeba", path=tmp_path)
    os.remove(tmp_path / celeba.IMAGES_DIR / "000003.jpg")
    with pytest.raises(DatasetError, match="000003.jpg"):
        load(config, "validation")
    attributes = tmp_path / celeba.ATTRIBUTES_FILE
    # Each rewrite gets its own modification time: the parsed file is cached by
    # (path, size, mtime), and two quick writes can share a clock tick.
    attributes.write_text(attributes.read_text().replace("Smiling", "Grinning"))
    os.utime(attributes, ns=(10**9, 10**9))
    with pytest.raises(DatasetError, match="expected CelebA's"):
        load(config, "train")
    attributes.write_text(attributes.read_text().replace("Grinning", "Smiling")
                          .replace(" 1", " 2", 1))
    os.utime(attributes, ns=(2 * 10**9, 2 * 10**9))
    with pytest.raises(DatasetError, match="other than -1 and 1"):
        load(config, "train")
