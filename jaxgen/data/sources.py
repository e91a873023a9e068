"""Sources: what a run trains on, composed from one or two datasets.

`config.source` chooses the composition (`dataset` is side "a", `dataset_b`
side "b"):

    single    one dataset's examples: {"image", "label"} or {"point"} ...
    paired    two datasets aligned by index, shuffled together:
              {"a": image of a, "b": image of b, "label": a's label if any};
              a dataset that is paired by itself (edges2fashion) needs no dataset_b
    unpaired  two domains, each side shuffled by its own key
              fold_in(data_key, side): {"a": image of a, "b": image of b}
    mixture   domain adaptation: half of each batch from the labelled source
              (a), half from the target (b) with its labels hidden:
              {"image", "label" (-1 on the target), "domain" (0 source, 1 target)}

A grey side of an unpaired or mixture source stays grey; a mixture needs one
image shape, so a grey side is repeated to three channels when the other is
RGB. Evaluation splits are flat dicts too (`load_split`): for unpaired the
two test sets aligned by index and cut to the shorter one, for mixture both
test sets with every label (evaluation may see the target's labels).
"""
from __future__ import annotations

import jax
import ml_collections
import numpy as np

from jaxgen import data as _data
from jaxgen.data.iterator import BatchIterator
from jaxgen.data.specs import DatasetSpec, Field, label_field
from jaxgen.errors import ConfigError

SOURCES = ("single", "paired", "unpaired", "mixture")
SIDES = ("a", "b")
HIDDEN_LABEL = -1  # the target's labels in a mixture batch


def side_config(config, side: str):
    """The config a side's dataset reads: `dataset`/`data_path` for "a",
    `dataset_b`/`data_path_b` for "b" (the other data keys are shared)."""
    if side == "a":
        return config
    view = ml_collections.ConfigDict(config.to_dict())
    view.dataset, view.data_path = config.dataset_b, config.get("data_path_b", "")
    return view


def dataset_spec(config, side: str = "a") -> DatasetSpec:
    """The declaration of one side's dataset."""
    view = side_config(config, side)
    return _data.get(view.dataset).spec(view)


def _source(config) -> str:
    return config.get("source", "single")


def _is_self_paired(config) -> bool:
    return "a" in dataset_spec(config).fields and "b" in dataset_spec(config).fields


def validate(config) -> None:
    """The source's datasets exist, read only their own keys, and compose."""
    source = _source(config)
    if source not in SOURCES:
        raise ConfigError(f"source must be one of {SOURCES}, got {source!r}")
    dataset_b = config.get("dataset_b", "")
    two_sided = source in ("unpaired", "mixture") or (source == "paired" and dataset_b)
    if two_sided and not dataset_b:
        raise ConfigError(f"source {source!r} needs a second dataset: --config.dataset_b=NAME")
    if not two_sided and dataset_b:
        raise ConfigError(f"dataset_b={dataset_b!r} is read only by the paired, unpaired "
                          f"and mixture sources; this run's source is {source!r}")
    for side in ("a", "b") if two_sided else ("a",):
        _check_data_keys(side_config(config, side), side)
    if streaming(config):
        _check_streaming(config)
    if not two_sided and config.get("data_path_b", ""):
        raise ConfigError("data_path_b is read only for a second dataset (dataset_b)")
    if source == "paired" and not dataset_b and not _is_self_paired(config):
        raise ConfigError(f"source 'paired' needs a paired dataset (edges2fashion) or a "
                          f"dataset_b aligned with {config.dataset!r} by index")
    if two_sided:
        a, b = dataset_spec(config, "a"), dataset_spec(config, "b")
        for s in (a, b):
            if s.kind != "images" or "image" not in s.fields:
                raise ConfigError(f"source {source!r} composes image datasets; "
                                  f"{s.name!r} holds {s.kind}")
        if source == "mixture":
            (ha, wa, _), (hb, wb, _) = a.image_shape, b.image_shape
            if (ha, wa) != (hb, wb):
                raise ConfigError(f"a mixture needs one image size: {a.name} is {ha}x{wa}, "
                                  f"{b.name} is {hb}x{wb}")
            if not a.labelled:
                raise ConfigError(f"a mixture's source side needs labels; {a.name!r} has none")


def _check_data_keys(view, side: str) -> None:
    dataset = _data.get(view.dataset)
    for key, unset in _data.DATA_KEYS.items():
        if key == "data_path_b":
            continue
        value = view.get(key, unset)
        if value != unset and key not in dataset.config_keys:
            name = "data_path_b" if (side == "b" and key == "data_path") else key
            raise ConfigError(f"dataset {view.dataset!r} does not read {name} "
                              f"(got {value!r}); it reads: "
                              f"{', '.join(dataset.config_keys) or 'no data keys'}")


def _mixture_channels(config) -> int:
    return max(dataset_spec(config, s).image_shape[2] for s in SIDES)


def spec(config) -> DatasetSpec:
    """The DatasetSpec of one element of the source's batches."""
    source = _source(config)
    a = dataset_spec(config, "a")
    if source == "single" or (source == "paired" and not config.get("dataset_b", "")):
        return a
    b = dataset_spec(config, "b")
    if source in ("paired", "unpaired"):
        fields = {"a": a.fields["image"], "b": b.fields["image"]}
        if source == "paired" and a.labelled:
            fields["label"] = a.fields["label"]
        return DatasetSpec(name=f"{source}({a.name},{b.name})", kind="images", fields=fields,
                           num_classes=a.num_classes if "label" in fields else 0,
                           class_names=a.class_names)
    h, w, _ = a.image_shape
    image = Field((h, w, _mixture_channels(config)), a.fields["image"].dtype, 0, 255)
    return DatasetSpec(name=f"mixture({a.name},{b.name})", kind="images",
                       fields={"image": image, "label": label_field(a.num_classes),
                               "domain": label_field(2)},
                       num_classes=a.num_classes, class_names=a.class_names)


def _load_side(config, side: str, split: str) -> dict:
    view = side_config(config, side)
    arrays = _data.get(view.dataset).load(view, split)
    return dict(arrays)


def _to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    if images.shape[-1] == channels:
        return images
    return np.repeat(images, channels, axis=-1)  # grey [N, H, W, 1] -> [N, H, W, 3]


def _mixture_side(config, side: str, split: str, hide_labels: bool) -> dict:
    arrays = _load_side(config, side, split)
    num = len(arrays["image"])
    labels = arrays.get("label")
    if hide_labels or labels is None:
        labels = np.full((num,), HIDDEN_LABEL, np.int32)
    return {"image": _to_channels(arrays["image"], _mixture_channels(config)),
            "label": np.asarray(labels, np.int32),
            "domain": np.full((num,), SIDES.index(side), np.int32)}


def streaming(config) -> bool:
    """Whether training batches stream from array_record shards (data/streaming.py)."""
    return bool(config.get("streaming", False))


def _check_streaming(config) -> None:
    if _source(config) != "single":
        raise ConfigError(f"streaming=True streams one dataset (source 'single'); this run's "
                          f"source is {_source(config)!r}")
    if _data.get(config.dataset).stream is None:
        streamable = [n for n in _data.known_datasets() if _data.get(n).stream is not None]
        raise ConfigError(f"dataset {config.dataset!r} is held in memory and cannot be "
                          f"streamed; streaming=True reads {', '.join(streamable)}")


def train_data(config, split: str = "train") -> dict:
    """The arrays a training iterator draws from, per side: {"data": arrays}
    for one-sided sources, {"a": arrays, "b": arrays} for two-sided ones;
    with `streaming`, {"stream": the converted split's ShardedRecords}."""
    source = _source(config)
    if streaming(config):
        from jaxgen.data import streaming as streaming_lib
        _check_streaming(config)
        files = _data.get(config.dataset).stream(config, split)
        return {"stream": streaming_lib.ShardedRecords(streaming_lib.convert(files))}
    if source == "unpaired":
        return {s: {"image": _load_side(config, s, split)["image"]} for s in SIDES}
    if source == "mixture":
        return {s: _mixture_side(config, s, split, hide_labels=(s == "b")) for s in SIDES}
    return {"data": load_split(config, split)}


def load_split(config, split: str) -> dict:
    """A split as one flat dict of arrays [N, ...] in the datasets' order."""
    source = _source(config)
    if source == "single" or (source == "paired" and not config.get("dataset_b", "")):
        return _load_side(config, "a", split)
    if source == "mixture":
        sides = [_mixture_side(config, s, split, hide_labels=False) for s in SIDES]
        return {k: np.concatenate([side[k] for side in sides]) for k in sides[0]}
    a, b = _load_side(config, "a", split), _load_side(config, "b", split)
    if source == "paired" and len(a["image"]) != len(b["image"]):
        raise ConfigError(f"source 'paired' aligns examples by index, but {config.dataset} "
                          f"has {len(a['image'])} {split} images and {config.dataset_b} "
                          f"{len(b['image'])}")
    num = min(len(a["image"]), len(b["image"]))
    out = {"a": a["image"][:num], "b": b["image"][:num]}
    if source == "paired" and "label" in a:
        out["label"] = a["label"]
    return out


class TwoSidedIterator:
    """Two BatchIterators, side i shuffled by fold_in(data_key, i); each batch
    combines `batch_size / 2` (mixture) or `batch_size` (unpaired) examples of
    each side. The position is {"a": {...}, "b": {...}}."""

    def __init__(self, sides: dict, source: str, batch_size: int, data_key, position=None):
        per_side = batch_size // 2 if source == "mixture" else batch_size
        if source == "mixture" and batch_size % 2:
            raise ConfigError(f"a mixture batch is half source, half target: batch_size "
                              f"must be even, got {batch_size}")
        position = position or {}
        self._source = source
        self._sides = {s: BatchIterator(sides[s], per_side, jax.random.fold_in(data_key, i),
                                        position.get(s))
                       for i, s in enumerate(SIDES)}

    @property
    def position(self) -> dict:
        return {s: it.position for s, it in self._sides.items()}

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        batches = {s: next(it) for s, it in self._sides.items()}
        if self._source == "unpaired":
            return {s: batches[s]["image"] for s in SIDES}
        return {k: np.concatenate([batches[s][k] for s in SIDES]) for k in batches["a"]}

    def next_stacked(self, count: int) -> dict:
        batches = [next(self) for _ in range(count)]
        return {name: np.stack([b[name] for b in batches]) for name in batches[0]}


def first_batch(config, sides: dict, batch_size: int) -> dict:
    """The first `batch_size` examples in stored order, combined as the
    iterator combines them: the sample batch `init` sees (data-dependent
    initialisation, e.g. Glow's actnorm, stays independent of the shuffle)."""
    if "data" in sides:
        return {name: a[:batch_size] for name, a in sides["data"].items()}
    if "stream" in sides:
        return sides["stream"].head(batch_size)
    source = _source(config)
    per_side = batch_size // 2 if source == "mixture" else batch_size
    heads = {s: {k: a[:per_side] for k, a in sides[s].items()} for s in SIDES}
    if source == "unpaired":
        return {s: heads[s]["image"] for s in SIDES}
    return {k: np.concatenate([heads[s][k] for s in SIDES]) for k in heads["a"]}


def make_iterator(config, sides: dict, batch_size: int, data_key, position=None):
    """The resumable iterator over `train_data(config)`'s arrays."""
    if "data" in sides:
        return BatchIterator(sides["data"], batch_size, data_key, position)
    if "stream" in sides:
        from jaxgen.data.streaming import StreamIterator
        return StreamIterator(sides["stream"], batch_size, data_key, position)
    return TwoSidedIterator(sides, _source(config), batch_size, data_key, position)
