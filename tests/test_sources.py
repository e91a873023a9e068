"""Sources (jaxgen/data/sources.py): paired, unpaired and mixture batches on
tiny in-memory datasets registered here, whose image i is the solid value
that names it; resume from a saved position is exact for each; and the
refusals of sources.validate."""
import json

import jax
import numpy as np
import pytest

from fake_datasets import fake_fashion, fake_garments, fake_photos, fake_value  # noqa: F401
from jaxgen import data
from jaxgen.data import BatchIterator, edges2fashion, fashion_mnist_m
from jaxgen.data.specs import Dataset, DatasetSpec, image_field, label_field
from jaxgen.engine import config as config_lib
from jaxgen.errors import ConfigError

KEY = jax.random.key(7)
# name -> (size, channels, {split: (num, first value)}, num_classes)
FAKES = {
    "src_grey": (6, 1, {"train": (20, 0), "test": (6, 100)}, 3),
    "src_grey_b": (6, 3, {"train": (20, 200), "test": (6, 150)}, 3),  # aligned with src_grey
    "src_rgb": (6, 3, {"train": (14, 50), "test": (5, 120)}, 3),
    "src_short": (6, 1, {"train": (19, 0), "test": (6, 0)}, 3),
    "src_unlabelled": (6, 3, {"train": (11, 70), "test": (4, 90)}, 0),
    "src_big": (8, 3, {"train": (10, 0), "test": (4, 0)}, 3),
}


def _fake_load(name, split):
    size, channels, splits, num_classes = FAKES[name]
    num, first = splits[split]
    values = first + np.arange(num)
    arrays = {"image": np.broadcast_to(values[:, None, None, None].astype(np.uint8),
                                       (num, size, size, channels)).copy()}
    if num_classes:
        arrays["label"] = (np.arange(num) % num_classes).astype(np.int32)
    return arrays


def _register_fakes():
    for name, (size, channels, _, num_classes) in FAKES.items():
        if name in data.known_datasets():
            continue
        fields = {"image": image_field(size, size, channels)}
        if num_classes:
            fields["label"] = label_field(num_classes)
        spec = DatasetSpec(name=name, kind="images", fields=fields, num_classes=num_classes,
                           class_names=tuple(str(k) for k in range(num_classes)))
        data.register(Dataset(name=name, description="test_sources fake",
                              spec=lambda config, spec=spec: spec,
                              load=lambda config, split, name=name: _fake_load(name, split)))


_register_fakes()


def source_config(**keys):
    c = config_lib.base_config()
    for key, value in keys.items():
        c[key] = value
    return c


def batches(config, batch_size, count, position=None):
    """`count` batches of the config's train iterator and its position after them."""
    it = data.make_iterator(config, data.train_data(config), batch_size, KEY, position)
    out = [next(it) for _ in range(count)]
    return out, it.position


def assert_resumes_exactly(config, batch_size, before, after):
    """Batches after a restart from the saved position (through JSON, as a
    checkpoint stores it) are the uninterrupted run's."""
    full, _ = batches(config, batch_size, before + after)
    _, position = batches(config, batch_size, before)
    position = json.loads(json.dumps(position))
    resumed, _ = batches(config, batch_size, after, position)
    assert len(resumed) == after
    for got, want in zip(resumed, full[before:]):
        assert set(got) == set(want)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])


def value(images):
    return images[:, 0, 0, 0].astype(int)  # the solid value that names each image


# ---------------------------------------------------------------------------
# paired
# ---------------------------------------------------------------------------


def test_paired_batches_are_aligned_by_index_and_resume_exactly():
    config = source_config(source="paired", dataset="src_grey", dataset_b="src_grey_b")
    data.validate(config)
    spec = data.spec(config)
    assert set(spec.fields) == {"a", "b", "label"} and spec.num_classes == 3
    assert spec.fields["a"].shape == (6, 6, 1) and spec.image_shape == (6, 6, 3)
    seen, _ = batches(config, 4, 10)  # two epochs of 5 batches
    for batch in seen:
        index = value(batch["a"])
        np.testing.assert_array_equal(value(batch["b"]), 200 + index)
        np.testing.assert_array_equal(batch["label"], index % 3)
    for epoch in (seen[:5], seen[5:]):
        assert sorted(np.concatenate([value(b["a"]) for b in epoch]).tolist()) == list(range(20))
    assert_resumes_exactly(config, 4, before=3, after=6)  # across the epoch boundary
    test = data.load_split(config, "test")
    np.testing.assert_array_equal(value(test["b"]), 150 + np.arange(6))
    np.testing.assert_array_equal(value(test["a"]), 100 + np.arange(6))


def test_paired_datasets_of_different_lengths_are_refused():
    config = source_config(source="paired", dataset="src_grey", dataset_b="src_short")
    data.validate(config)
    with pytest.raises(ConfigError, match="aligns examples by index"):
        data.train_data(config)


def test_fashion_mnist_paired_with_fashion_mnist_m_image_by_image(fake_fashion):
    config = source_config(source="paired", dataset="fashion_mnist", dataset_b="fashion_mnist_m")
    data.validate(config)
    spec = data.spec(config)
    assert spec.fields["a"].shape == (28, 28, 1) and spec.fields["b"].shape == (28, 28, 3)
    garments = fake_garments("train")["image"]
    blended = fashion_mnist_m.build(garments, fake_photos(None), fashion_mnist_m.split_seed("train"))
    seen, _ = batches(config, 8, 7)
    for batch in seen:
        index = (batch["a"].max(axis=(1, 2, 3)).astype(int) - fake_value(0)) // 5
        np.testing.assert_array_equal(batch["a"], garments[index])
        np.testing.assert_array_equal(batch["b"], blended[index])  # Fashion-MNIST-M of image i
    assert_resumes_exactly(config, 8, before=4, after=3)


def test_edges2fashion_is_paired_by_itself(fake_fashion):
    config = source_config(source="paired", dataset="edges2fashion")
    data.validate(config)
    assert data.spec(config) == data.get("edges2fashion").spec(config)
    seen, _ = batches(config, 8, 6)
    for batch in seen:
        assert set(batch) == {"a", "b", "label"}
        np.testing.assert_array_equal(batch["a"], edges2fashion.edge_maps(batch["b"]))
    assert_resumes_exactly(config, 8, before=5, after=4)


# ---------------------------------------------------------------------------
# unpaired
# ---------------------------------------------------------------------------


def test_unpaired_sides_are_shuffled_by_their_own_keys_and_resume_exactly():
    config = source_config(source="unpaired", dataset="src_grey", dataset_b="src_rgb")
    data.validate(config)
    spec = data.spec(config)
    assert set(spec.fields) == {"a", "b"} and spec.num_classes == 0
    assert spec.fields["a"].shape == (6, 6, 1) and spec.fields["b"].shape == (6, 6, 3)
    seen, _ = batches(config, 4, 12)
    # Each side is the plain iterator of its own images under fold_in(key, side).
    for side, index in (("a", 0), ("b", 1)):
        images = data.get(config.dataset if side == "a" else config.dataset_b).load(
            config, "train")["image"]
        own = BatchIterator({"image": images}, 4, jax.random.fold_in(KEY, index))
        for batch in seen:
            assert set(batch) == {"a", "b"}
            np.testing.assert_array_equal(batch[side], next(own)["image"])
    # Side a's order does not depend on which dataset side b is.
    other = source_config(source="unpaired", dataset="src_grey", dataset_b="src_unlabelled")
    for x, y in zip(seen, batches(other, 4, 12)[0]):
        np.testing.assert_array_equal(x["a"], y["a"])
    # 20 and 14 images: the sides start new epochs at different batches.
    assert_resumes_exactly(config, 4, before=4, after=8)
    test = data.load_split(config, "test")  # aligned by index, cut to the shorter side
    np.testing.assert_array_equal(value(test["a"]), 100 + np.arange(5))
    np.testing.assert_array_equal(value(test["b"]), 120 + np.arange(5))


# ---------------------------------------------------------------------------
# mixture
# ---------------------------------------------------------------------------


def test_mixture_halves_with_hidden_target_labels_and_grey_made_rgb():
    config = source_config(source="mixture", dataset="src_grey", dataset_b="src_rgb")
    data.validate(config)
    spec = data.spec(config)
    assert set(spec.fields) == {"image", "label", "domain"} and spec.image_shape == (6, 6, 3)
    assert spec.num_classes == 3
    seen, _ = batches(config, 6, 9)
    for batch in seen:
        source, target = slice(0, 3), slice(3, 6)
        np.testing.assert_array_equal(batch["domain"], [0, 0, 0, 1, 1, 1])
        grey = batch["image"][source]
        assert grey.shape == (3, 6, 6, 3)
        np.testing.assert_array_equal(grey, np.repeat(grey[..., :1], 3, axis=-1))
        np.testing.assert_array_equal(batch["label"][source], value(grey) % 3)  # true labels
        np.testing.assert_array_equal(batch["label"][target], -1)  # hidden
        assert (value(batch["image"][target]) >= 50).all() and (value(grey) < 20).all()
    assert_resumes_exactly(config, 6, before=5, after=6)
    first = data.first_batch(config, data.train_data(config), 6)
    np.testing.assert_array_equal(value(first["image"]), [0, 1, 2, 50, 51, 52])
    # Evaluation sees both test sets with every label, the target's included.
    test = data.load_split(config, "test")
    np.testing.assert_array_equal(test["domain"], [0] * 6 + [1] * 5)
    np.testing.assert_array_equal(test["label"], np.concatenate([np.arange(6), np.arange(5)]) % 3)


def test_mixture_batch_must_be_even():
    config = source_config(source="mixture", dataset="src_grey", dataset_b="src_rgb")
    with pytest.raises(ConfigError, match="must be even"):
        batches(config, 5, 1)


# ---------------------------------------------------------------------------
# validate's refusals
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("keys, message", [
    ({"source": "zipped"}, "source must be one of"),
    ({"source": "unpaired", "dataset": "src_grey"}, "needs a second dataset"),
    ({"source": "mixture", "dataset": "src_grey"}, "needs a second dataset"),
    ({"dataset_b": "src_rgb"}, "read only by the paired, unpaired and mixture"),
    ({"data_path": "/tmp/images"}, "'fashion_mnist' does not read data_path"),
    ({"image_size": 32}, "'fashion_mnist' does not read image_size"),
    ({"channels": 3, "dataset": "src_grey"}, "does not read channels"),
    ({"source": "unpaired", "dataset": "src_grey", "dataset_b": "src_rgb",
      "data_path_b": "/tmp/b"}, "'src_rgb' does not read data_path_b"),
    ({"data_path_b": "/tmp/b"}, "data_path_b is read only for a second dataset"),
    ({"source": "paired", "dataset": "src_grey"}, "needs a paired dataset"),
    ({"source": "mixture", "dataset": "src_grey", "dataset_b": "src_big"}, "one image size"),
    ({"source": "mixture", "dataset": "src_unlabelled", "dataset_b": "src_rgb"},
     "source side needs labels"),
    ({"source": "unpaired", "dataset": "ring8", "dataset_b": "src_rgb"},
     "composes image datasets"),
    ({"source": "unpaired", "dataset": "src_grey", "dataset_b": "no_such_set"},
     "unknown dataset 'no_such_set'"),
])
def test_validate_refuses(keys, message):
    with pytest.raises(ConfigError, match=message):
        data.validate(source_config(**keys))
