"""Tests of jaxgen.vae.pictures on tiny untrained runs.

The pictures of an untrained model are noise, so what is checked is that the
right files are written as readable PNGs, that they are reproducible from the
key, and the latent-space arithmetic behind them (interpolation endpoints,
the alpha = 0 column, the grid layout, the PCA projection).
"""
from __future__ import annotations

import functools
import os

import jax
import numpy as np
import pytest
from PIL import Image

import jaxgen
from jaxgen import data, registry
from jaxgen.data import fashion_mnist
from jaxgen.vae import models, pictures, sampling

from conftest import RGB32_DATASET

ALL_PICTURES = {"samples.png", "reconstructions.png", "latent_space.png", "latent_grid.png",
                "interpolation.png", "latent_arithmetic.png"}
# A conditional model has no latent plane and no class direction (pictures.py docstring).
CONDITIONAL_PICTURES = ALL_PICTURES - {"latent_grid.png", "latent_arithmetic.png"}
KINDS = {  # name -> (family, config overrides, pictures expected)
    "vae": ("vae", {}, ALL_PICTURES),
    "vae_rgb32": ("vae", {"dataset": RGB32_DATASET}, ALL_PICTURES),
    "autoencoder": ("autoencoder", {}, ALL_PICTURES),
    "conditional_vae": ("vae", {"conditional": "true"}, CONDITIONAL_PICTURES),
    "vae_latent3": ("vae", {"latent_dim": "3"}, ALL_PICTURES - {"latent_grid.png"}),
}


def random_state(family, config, seed: int = 0):
    """A TrainState of the run's shapes holding random numbers: weight matrices and
    kernels ~ N(0, 1/fan_in), every other array (biases, step, latent statistics) 1.

    Why not `family.init`: its random initialisers take ~10 s of XLA compilation
    per architecture on a 2-core CPU, and the pictures only need some finite
    parameters: those of a model trained for a few steps are just as much noise.
    """
    batch = data.spec(config).batch_shapes(config.batch_size)
    abstract = jax.eval_shape(functools.partial(family.init, config), jax.random.key(0), batch)
    rng = np.random.default_rng(seed)

    def fill(leaf):
        if leaf.ndim < 2:
            return np.ones(leaf.shape, leaf.dtype)
        fan_in = np.prod(leaf.shape[:-1])
        return (rng.normal(size=leaf.shape) / np.sqrt(fan_in)).astype(leaf.dtype)
    return jax.tree.map(fill, abstract)


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    """kind -> a Run of a tiny network with random parameters, built once per module."""
    if fashion_mnist.missing_source_files(fashion_mnist.source_dir()):
        pytest.skip("Fashion-MNIST IDX files not installed (apt-get install "
                    "dataset-fashion-mnist)")
    from conftest import tiny_config
    runs = {}

    def get(kind: str):
        if kind not in runs:
            family_name, overrides, _ = KINDS[kind]
            config = tiny_config(family_name, **overrides)
            family = registry.get(family_name)
            runs[kind] = jaxgen.Run(workdir=str(tmp_path_factory.mktemp(kind)), config=config,
                                    family=family, state=random_state(family, config))
        return runs[kind]
    return get


def png_pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def check_pictures(kind, paths, outdir) -> None:
    """The expected files, and only those, are written and returned, each a readable PNG."""
    assert {os.path.basename(p) for p in paths} == KINDS[kind][2]
    assert set(os.listdir(outdir)) == KINDS[kind][2]
    for path in paths:
        pixels = png_pixels(path)  # [H, W, 3]
        assert pixels.shape[0] >= 100 and pixels.shape[1] >= 200, (path, pixels.shape)
        assert pixels.std() > 0, f"{path} is blank"


@pytest.mark.parametrize("kind", ["vae", "autoencoder", "conditional_vae", "vae_rgb32"])
def test_writes_the_expected_readable_pngs(untrained, kind, tmp_path):
    outdir = str(tmp_path / "pictures")
    check_pictures(kind, pictures.write_pictures(untrained(kind), jax.random.key(0), outdir),
                   outdir)


def test_the_same_key_draws_the_same_pictures(untrained, tmp_path):
    run = untrained("vae_latent3")  # also the PCA path and no latent grid
    first = pictures.write_pictures(run, jax.random.key(0), str(tmp_path / "first"))
    again = pictures.write_pictures(run, jax.random.key(0), str(tmp_path / "again"))
    check_pictures("vae_latent3", first, str(tmp_path / "first"))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(png_pixels(a), png_pixels(b), err_msg=a)


def test_interpolation_ends_are_the_reconstructions(untrained):
    for kind in ("vae", "conditional_vae"):  # the conditional one also blends one-hots
        run = untrained(kind)
        config, params = run.config, run.state.params
        test = data.load_split(config, "test")
        pixels_a, labels_a = test["image"][:3], test["label"][:3]
        pixels_b, labels_b = test["image"][3:6], test["label"][3:6]
        steps = 5
        path = jax.jit(lambda *a: pictures.interpolation_images(config, *a, num_steps=steps))(
            params, pixels_a, labels_a, pixels_b, labels_b)  # [3, 5, 28, 28, 1]
        assert path.shape == (3, steps, 28, 28, 1) and np.isfinite(path).all()
        assert np.abs(path[:, 0] - path[:, -1]).max() > 1e-3  # else the ends prove nothing
        recon = lambda x, y: pictures.reconstruction_images(config, params, x, y)
        np.testing.assert_allclose(path[:, 0], recon(pixels_a, labels_a), atol=1e-5)
        np.testing.assert_allclose(path[:, -1], recon(pixels_b, labels_b), atol=1e-5)
        if not config.conditional:  # the middle point is the decoded mean of the two codes
            z_a = pictures.codes_of(config, params, pixels_a, labels_a)
            z_b = pictures.codes_of(config, params, pixels_b, labels_b)
            middle = sampling.decode_mean(config, params, (z_a + z_b) / 2, labels_a)
            np.testing.assert_allclose(path[:, steps // 2], middle, atol=1e-5)


def test_arithmetic_moves_each_code_along_its_own_direction(untrained):
    for kind in ("vae", "conditional_vae"):  # the conditional one checks the labels' order
        run = untrained(kind)
        config, params = run.config, run.state.params
        test = data.load_split(config, "test")
        pixels, labels = test["image"][:4], test["label"][:4]
        assert len(set(labels.tolist())) > 1
        directions = np.arange(8, dtype=np.float32).reshape(4, 2) - 3.0  # [4, D]: all differ
        moved = pictures.arithmetic_images(config, params, pixels, labels, directions,
                                           alphas=(0.0, 0.5, 1.0))  # [4, 3, 28, 28, 1]
        assert moved.shape == (4, 3, 28, 28, 1) and np.isfinite(moved).all()
        assert np.abs(moved[:, 0] - moved[:, 2]).max() > 1e-3
        z = pictures.codes_of(config, params, pixels, labels)  # [4, D]
        np.testing.assert_allclose(moved[:, 0], pictures.reconstruction_images(
            config, params, pixels, labels), atol=1e-5)
        np.testing.assert_allclose(moved[:, 2], sampling.decode_mean(
            config, params, z + directions, labels), atol=1e-5)


def test_codes_are_posterior_means_and_chunking_changes_nothing(untrained):
    for kind in ("vae", "autoencoder"):
        run = untrained(kind)
        config, params = run.config, run.state.params
        test = data.load_split(config, "test")
        pixels, labels = test["image"][:700], test["label"][:700]  # one full chunk + a part
        code = models.encode(config, params, pixels, labels)
        expected = code[0] if kind == "vae" else code  # [700, D]
        chunked = jax.jit(lambda p, x, y: pictures.codes_in_chunks(config, p, x, y))(
            params, pixels, labels)
        np.testing.assert_allclose(chunked, expected, atol=1e-5)


def test_latent_plane_is_laid_out_like_a_plot():
    z = np.asarray(pictures.latent_plane([0.0, 1.0, 2.0], [10.0, 20.0]))  # [2 * 3, 2]
    # Reading order: the top row has the largest z2, z1 grows to the right.
    np.testing.assert_array_equal(z, [[0, 20], [1, 20], [2, 20], [0, 10], [1, 10], [2, 10]])


def test_pca_keeps_all_of_a_planar_cloud_and_its_distances():
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(200, 2)) * [3.0, 1.0]  # [200, 2]
    embedding = np.linalg.qr(rng.normal(size=(5, 5)))[0][:2]  # two orthonormal rows of R^5
    codes = plane @ embedding + 7.0  # [200, 5], a tilted and shifted plane
    points, kept = pictures.pca_2d(codes)
    assert points.shape == (200, 2)
    assert kept == pytest.approx(1.0)
    distances = lambda p: np.linalg.norm(p[:, None] - p[None], axis=-1)
    np.testing.assert_allclose(distances(points), distances(plane), atol=1e-8)


def test_first_of_class_and_class_mean():
    labels = np.array([2, 0, 2, 1, 0, 2])
    np.testing.assert_array_equal(pictures.first_of_class(labels, [2, 0], count=2), [0, 2, 1, 4])
    codes = np.arange(12, dtype=float).reshape(6, 2)
    np.testing.assert_allclose([pictures.class_mean(codes, labels, c) for c in range(3)],
                               [[5, 6], [6, 7], [14 / 3, 17 / 3]])
