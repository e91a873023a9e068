"""The feature extractor of the image metrics: jaxgen's Fashion-MNIST CNN, or a
`classifier` run on another labelled dataset (`jaxgen eval --extractor WORKDIR`).

Inception weights cannot be downloaded here, so FID/KID/IS/precision-recall
use the `classifier` family's CNN (DESIGN.md, "Metrics"); its numbers are
named after it (`fid_fmnist`, "FID-FMNIST") and are not comparable with
Inception FIDs from papers.

The trained weights ship in `jaxgen/metrics/weights/` as one msgpack file
(flax.serialization) holding the parameters and, as a JSON string, the
classifier config that rebuilds the network. The file is checked against
its sha256 before use: reference statistics are cached under that checksum,
so a changed file must never pass for the shipped one.
`python -m jaxgen.build_extractor` re-creates the file from a seed.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os

import jax
import ml_collections
import numpy as np
from flax import serialization

from jaxgen.errors import JaxgenError

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
FMNIST_WEIGHTS = os.path.join(WEIGHTS_DIR, "fmnist_cnn.msgpack")
# sha256 of the shipped file; `build_extractor` prints the value for a rebuilt one.
FMNIST_SHA256 = "11b11d10991aa2a9a059e068b6c7f6f4a34df2ac3ccd1b7c1ea4aef58edc4fbd"
EXTRACT_BATCH = 500  # images per extractor call when featurising large sets


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def serialize_weights(params, config) -> bytes:
    """Parameters and the config that rebuilds their network, as msgpack bytes."""
    meta = json.dumps(config.to_dict(), sort_keys=True, default=list)
    params = jax.tree.map(np.asarray, jax.device_get(params))
    return serialization.msgpack_serialize({"params": params, "config": meta})


def deserialize_weights(raw: bytes):
    """Inverse of `serialize_weights`: (params, config)."""
    payload = serialization.msgpack_restore(raw)
    return payload["params"], ml_collections.ConfigDict(json.loads(payload["config"]))


@dataclasses.dataclass(frozen=True)
class Extractor:
    """images [B, H, W, C] in [0, 1] -> (logits [B, K], features [B, F]); jitted.

    name tags every metric it computes (`fid_fmnist`); image_shape is the one
    shape it accepts (images of another shape are refused, never resized).
    """

    name: str
    sha256: str
    config: ml_collections.ConfigDict
    params: object
    image_shape: tuple = (28, 28, 1)
    source: str = "shipped"  # where it came from: the weights file or the classifier run

    @functools.cached_property
    def _apply(self):
        from jaxgen.nn.classifier import apply_model
        return jax.jit(functools.partial(apply_model, self.config))

    def __call__(self, images):
        return self._apply(self.params, images)

    def check_shape(self, shape, what: str = "the run's samples") -> None:
        if tuple(shape) != tuple(self.image_shape):
            raise JaxgenError(
                f"extractor {self.name} takes images of shape {tuple(self.image_shape)}; "
                f"{what} have shape {tuple(shape)}. Images are never resized for a metric: "
                "train a classifier on this dataset (jaxgen train classifier "
                "--config.dataset=...) and pass it with --extractor WORKDIR")

    def featurise(self, images, batch_size: int = EXTRACT_BATCH):
        """Many images (numpy or jax) -> (probs [N, 10], features [N, F]) as numpy.

        Runs in fixed-size batches (the last one padded) so one compilation
        serves any N.
        """
        images = np.asarray(images, np.float32)
        probs, feats = [], []
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            padded = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - len(chunk), 0)])
            logits, features = self(padded)
            probs.append(np.asarray(jax.nn.softmax(logits))[:len(chunk)])
            feats.append(np.asarray(features)[:len(chunk)])
        return np.concatenate(probs), np.concatenate(feats)


def _check_sha256(path: str, expected: str | None) -> str:
    actual = file_sha256(path)
    if expected is not None and actual != expected:
        raise JaxgenError(
            f"extractor weights {path} have sha256 {actual}, expected {expected}: the file "
            "is damaged or was replaced; re-create it with `python -m "
            "jaxgen.build_extractor` or reinstall jaxgen")
    return actual


@functools.lru_cache(maxsize=4)
def load_extractor(path: str | None = None, expected_sha256: str | None = None) -> Extractor:
    """The Fashion-MNIST CNN extractor (or the weights file at `path`).

    The shipped file is always checked against its recorded sha256; a file
    given by `path` is checked when `expected_sha256` is given.
    """
    if path is None:
        path, expected_sha256 = FMNIST_WEIGHTS, FMNIST_SHA256
    if not os.path.isfile(path):
        raise JaxgenError(f"extractor weights not found: {path}; create them with "
                          "`python -m jaxgen.build_extractor`")
    sha256 = _check_sha256(path, expected_sha256)
    with open(path, "rb") as f:
        params, config = deserialize_weights(f.read())
    name = "fmnist" if config.get("dataset") == "fashion_mnist" else str(config.get("dataset"))
    return Extractor(name=name, sha256=sha256, config=config, params=params, source=path)


def extractor_from_classifier(config, params, image_shape, source: str) -> Extractor:
    """The extractor of a trained `classifier` run (config, params, its image shape).

    Its name is the classifier's dataset (`fid_fashion_mnist_m`), its sha256
    that of its serialized weights, so cached reference statistics follow them.
    """
    if config.get("model") != "cnn":
        raise JaxgenError(f"--extractor needs a classifier run with model=cnn (its "
                          f"penultimate features); {source} holds model={config.get('model')!r}")
    sha256 = hashlib.sha256(serialize_weights(params, config)).hexdigest()
    return Extractor(name=str(config.dataset), sha256=sha256, config=config, params=params,
                     image_shape=tuple(image_shape), source=source)
