"""Metrics against independent NumPy/SciPy references and hand-built cases."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import scipy.spatial.distance
import scipy.stats

from jaxgen.data import toy2d
from jaxgen.metrics import (bits_per_dim, frechet_distance, gaussian_stats, inception_score,
                            js_diag_gaussians, js_discrete, kernel_inception_distance,
                            kl_diag_gaussians, kl_discrete, mode_coverage, precision_recall,
                            toy_mode_coverage)
from jaxgen.metrics.batching import map_in_blocks
from jaxgen.metrics.feature_distances import mmd2_unbiased
from jaxgen.metrics.sample_quality import class_histogram, kl_to_uniform


# --- Frechet distance -------------------------------------------------------------------

def scipy_frechet(mu1, cov1, mu2, cov2):
    """The textbook formula with scipy's general matrix square root, in float64."""
    covmean = scipy.linalg.sqrtm(cov1 @ cov2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2)
                 - 2 * np.trace(covmean))


def numpy_stats(x):
    return x.mean(0), np.cov(x, rowvar=False)


@pytest.mark.parametrize("num, dim, rank", [
    (500, 16, 16),   # well conditioned
    (12, 16, 16),    # fewer samples than dimensions: singular covariances
    (400, 16, 3),    # features on a 3-D subspace: rank-deficient covariances
    (100, 128, 128),  # the extractor's width, few samples: ill-conditioned
])
def test_frechet_distance_matches_scipy(num, dim, rank):
    rng = np.random.default_rng(num + rank)
    basis = rng.normal(size=(rank, dim))
    x = rng.normal(size=(num, rank)) @ basis
    y = (1.5 * rng.normal(size=(num, rank)) + 0.3) @ basis
    (mu1, cov1), (mu2, cov2) = numpy_stats(x), numpy_stats(y)
    expected = scipy_frechet(mu1, cov1, mu2, cov2)
    got = float(frechet_distance(mu1, cov1, mu2, cov2))
    scale = np.trace(cov1) + np.trace(cov2)
    assert got == pytest.approx(expected, rel=1e-4, abs=1e-6 * scale)


def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(300, 128))
    mu, cov = numpy_stats(x)
    assert abs(float(frechet_distance(mu, cov, mu, cov))) < 1e-5 * np.trace(cov)


def test_gaussian_stats_match_numpy():
    x = np.random.default_rng(1).normal(size=(50, 5)).astype(np.float32)
    mu, cov = gaussian_stats(x)
    np.testing.assert_allclose(mu, x.mean(0), atol=1e-6)
    np.testing.assert_allclose(cov, np.cov(x, rowvar=False), atol=1e-5)


# --- KID --------------------------------------------------------------------------------

def brute_force_mmd2(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, pair by pair."""
    d = x.shape[1]
    k = lambda a, b: (np.dot(a, b) / d + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2 * xy


def test_mmd_matches_brute_force():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(20, 6)), rng.normal(0.5, 1.2, size=(25, 6))
    expected = brute_force_mmd2(x, y)
    assert float(mmd2_unbiased(jnp.asarray(x), jnp.asarray(y))) == pytest.approx(expected,
                                                                                   rel=1e-4)
    # One subset holding all rows is the full-set estimate (row order does not matter).
    y = y[:20]
    mean, std = kernel_inception_distance(x, y, num_subsets=1, subset_size=1000)
    assert float(mean) == pytest.approx(brute_force_mmd2(x, y), rel=1e-4) and float(std) == 0.0


def test_kid_subsets_separate_same_from_different_distributions():
    rng = np.random.default_rng(3)
    x, x2 = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    far = rng.normal(1.0, 1.0, size=(400, 8))
    same_mean, same_std = kernel_inception_distance(x, x2, num_subsets=20, subset_size=100)
    far_mean, _ = kernel_inception_distance(x, far, num_subsets=20, subset_size=100)
    assert abs(float(same_mean)) < 3 * float(same_std) + 1e-3
    assert float(far_mean) > 10 * abs(float(same_mean)) and float(same_std) > 0
    again = kernel_inception_distance(x, x2, num_subsets=20, subset_size=100)
    assert float(again[0]) == float(same_mean)  # default key: reproducible


# --- Inception Score --------------------------------------------------------------------

def numpy_inception_score(probs, splits):
    scores = []
    def start(i):  # the first row r with r * splits // N == i
        return -(-i * len(probs) // splits)

    for i in range(splits):
        part = probs[start(i):start(i + 1)]
        marginal = part.mean(0)
        scores.append(np.exp(np.mean([scipy.stats.entropy(p, marginal) for p in part])))
    return np.mean(scores), np.std(scores)


def test_inception_score_bounds():
    num_classes = 10
    uniform = np.full((1000, num_classes), 1.0 / num_classes)
    mean, std = inception_score(uniform)
    assert float(mean) == pytest.approx(1.0, abs=1e-5) and float(std) == pytest.approx(0, abs=1e-5)
    # Each part of 100 rows holds every class equally: the maximum, K.
    one_hot = np.eye(num_classes)[np.arange(1000) % num_classes]
    mean, std = inception_score(one_hot, splits=10)
    assert float(mean) == pytest.approx(num_classes, rel=1e-5)
    assert float(std) == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("num", [600, 437])  # 437: parts of unequal size
def test_inception_score_matches_numpy(num):
    probs = np.asarray(jax.nn.softmax(3 * jax.random.normal(jax.random.key(num), (num, 10))))
    mean, std = inception_score(probs, splits=7)
    expected_mean, expected_std = numpy_inception_score(probs.astype(np.float64), 7)
    assert float(mean) == pytest.approx(expected_mean, rel=1e-4)
    assert float(std) == pytest.approx(expected_std, rel=1e-3, abs=1e-5)


# --- precision and recall ---------------------------------------------------------------

def line(start, stop):
    """Points (i, 0) for i in [start, stop): neighbours are exactly 1 apart."""
    return np.stack([np.arange(start, stop, dtype=np.float32), np.zeros(stop - start,
                                                                         np.float32)], 1)


def test_precision_recall_on_points_with_known_answers():
    real = line(0, 100)
    # Identical sets: every point is inside the other set's manifold.
    assert tuple(map(float, precision_recall(real, real, k=3))) == (1.0, 1.0)
    # Far away: nothing inside either manifold.
    assert tuple(map(float, precision_recall(real, real + 1000.0, k=3))) == (0.0, 0.0)
    # The left half: every fake is a real point (precision 1). The 3rd-nearest
    # fake neighbour of fake 49 is 3 away, so reals 0..52 are covered (53 of 100);
    # other fakes' radii (2) reach no further right.
    precision, recall = precision_recall(real, line(0, 50), k=3)
    assert float(precision) == 1.0 and float(recall) == pytest.approx(0.53)
    # Fakes half on real points, half far away: precision 1/2.
    fake = np.concatenate([line(0, 100)[::2], line(5000, 5050)])
    assert float(precision_recall(real, fake, k=3)[0]) == pytest.approx(0.5)


def test_class_histogram_and_its_kl_to_uniform_match_numpy_and_scipy():
    probs = np.random.default_rng(3).dirichlet(np.full(10, 0.3), size=500)
    counts = np.asarray(class_histogram(probs))
    np.testing.assert_array_equal(counts, np.bincount(probs.argmax(1), minlength=10))
    expected = scipy.stats.entropy(counts / counts.sum(), np.full(10, 0.1))
    np.testing.assert_allclose(kl_to_uniform(counts), expected, atol=1e-6)  # float32 log K - H
    # Even use of the classes is 0; one class taking every sample is log K,
    # and a class nobody samples still counts in K.
    assert abs(float(kl_to_uniform(np.full(10, 7)))) < 1e-6
    np.testing.assert_allclose(kl_to_uniform(np.eye(10)[4] * 50), np.log(10), rtol=1e-6)


def test_map_in_blocks_pads_and_trims():
    x = jnp.arange(14.0).reshape(7, 2)
    np.testing.assert_array_equal(map_in_blocks(lambda b: 2 * b, x, 3), 2 * x)
    np.testing.assert_array_equal(map_in_blocks(lambda b: b.sum(1), x, 4), x.sum(1))


# --- divergences ------------------------------------------------------------------------

def test_discrete_kl_and_js_match_scipy():
    rng = np.random.default_rng(4)
    p, q = rng.dirichlet(np.ones(6), size=3), rng.dirichlet(np.ones(6), size=3)  # batched
    p[0, 2] = 0.0
    p[0] /= p[0].sum()  # a zero entry: 0 log 0 = 0
    np.testing.assert_allclose(kl_discrete(p, q), [scipy.stats.entropy(a, b) for a, b in zip(p, q)],
                               rtol=1e-5)
    np.testing.assert_allclose(js_discrete(p, q),
                               [scipy.spatial.distance.jensenshannon(a, b) ** 2
                                for a, b in zip(p, q)], rtol=1e-4)
    assert float(js_discrete(np.array([1.0, 0.0]), np.array([0.0, 1.0]))) == pytest.approx(np.log(2))
    assert np.isinf(float(kl_discrete(np.array([0.5, 0.5]), np.array([1.0, 0.0]))))


def test_diagonal_gaussian_kl_matches_the_full_covariance_formula():
    rng = np.random.default_rng(5)
    m1, m2, lv1, lv2 = (rng.normal(size=4) for _ in range(4))
    s1, s2 = np.diag(np.exp(lv1)), np.diag(np.exp(lv2))
    inv2 = np.linalg.inv(s2)
    expected = 0.5 * (np.trace(inv2 @ s1) + (m2 - m1) @ inv2 @ (m2 - m1) - 4
                      + np.log(np.linalg.det(s2) / np.linalg.det(s1)))
    assert float(kl_diag_gaussians(m1, lv1, m2, lv2)) == pytest.approx(expected, rel=1e-5)


def test_diagonal_gaussian_js_matches_numerical_integration():
    m1, lv1, m2, lv2 = 0.0, 0.0, 1.5, np.log(0.5)
    p = scipy.stats.norm(m1, np.exp(0.5 * lv1)).pdf
    q = scipy.stats.norm(m2, np.exp(0.5 * lv2)).pdf

    def integrand(x):
        mid = 0.5 * (p(x) + q(x))
        return 0.5 * (p(x) * np.log(p(x) / mid) + q(x) * np.log(q(x) / mid))

    expected = scipy.integrate.quad(integrand, -12, 12)[0]
    got = js_diag_gaussians(jnp.array([m1]), jnp.array([lv1]), jnp.array([m2]), jnp.array([lv2]),
                            jax.random.key(0), num_samples=40_000)
    assert float(got) == pytest.approx(expected, rel=0.03)


def test_bits_per_dim():
    assert float(bits_per_dim(784 * np.log(2.0), 784)) == pytest.approx(1.0)


# --- 2-D mode coverage ------------------------------------------------------------------

def test_mode_coverage_of_hand_placed_ring8_samples():
    centres, std = toy2d.mode_centers("ring8"), toy2d.mode_std("ring8")
    on_modes = np.repeat(centres[:5], 10, axis=0) + 2 * std  # within 3 std (2.83 std away)
    off = np.zeros((10, 2))  # the centre of the ring: 1 away from every mode
    values = toy_mode_coverage("ring8", np.concatenate([on_modes, off]))
    assert int(values["modes_covered"]) == 5
    assert float(values["high_quality"]) == pytest.approx(50 / 60)
    # Even over 5 of 8 modes: KL(q || uniform) = log(8 / 5).
    assert float(values["reverse_kl"]) == pytest.approx(np.log(8 / 5), rel=1e-5)


def test_mode_coverage_of_grid25_and_its_thresholds():
    centres, std = toy2d.mode_centers("grid25"), toy2d.mode_std("grid25")
    values = toy_mode_coverage("grid25", centres + np.array([std, -std]))
    assert int(values["modes_covered"]) == 25 and float(values["high_quality"]) == 1.0
    assert float(values["reverse_kl"]) == pytest.approx(0.0, abs=1e-6)
    # 3.5 std away: assigned to its mode, but not high quality.
    values = toy_mode_coverage("grid25", centres + np.array([3.5 * std, 0.0]))
    assert int(values["modes_covered"]) == 0 and float(values["high_quality"]) == 0.0
    assert np.isinf(float(values["reverse_kl"]))
    # Two samples on mode 0, one on mode 1: min_count=2 counts only mode 0.
    points = centres[[0, 0, 1]]
    assert int(mode_coverage(points, centres, std, min_count=2)["modes_covered"]) == 1
