"""Tests for jaxgen.metrics.ood (fast: NumPy/SciPy only)."""
import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from jaxgen.metrics.ood import auroc


def brute_force_auroc(s_in, s_out):
    """Count all (in, out) pairs: win = 1, tie = 1/2."""
    s_in, s_out = np.asarray(s_in)[:, None], np.asarray(s_out)[None, :]
    return ((s_in > s_out).sum() + 0.5 * (s_in == s_out).sum()) / (s_in.size * s_out.size)


@pytest.mark.parametrize("seed", range(5))
def test_matches_pairwise_count_with_ties(seed):
    rng = np.random.default_rng(seed)
    # Small integer range -> many ties, within and across the two sets.
    s_in = rng.integers(0, 6, size=rng.integers(1, 60))
    s_out = rng.integers(-2, 5, size=rng.integers(1, 60))
    assert auroc(s_in, s_out) == pytest.approx(brute_force_auroc(s_in, s_out), abs=1e-12)


def test_perfect_reversed_and_all_tied():
    a, b = np.arange(10.0), np.arange(10.0) + 100
    assert auroc(b, a) == 1.0
    assert auroc(a, b) == 0.0
    assert auroc(np.zeros(7), np.zeros(3)) == 0.5
    assert auroc([np.inf], [-np.inf]) == 1.0


def test_identical_distributions_near_half():
    rng = np.random.default_rng(0)
    s_in, s_out = rng.normal(size=4000), rng.normal(size=4000)
    assert abs(auroc(s_in, s_out) - 0.5) < 0.03


def test_matches_scipy_mannwhitneyu():
    rng = np.random.default_rng(1)
    s_in = np.round(rng.normal(0.5, 1, size=300), 1)    # rounding makes ties
    s_out = np.round(rng.normal(0.0, 1, size=200), 1)
    u = mannwhitneyu(s_in, s_out, alternative="two-sided").statistic
    assert auroc(s_in, s_out) == pytest.approx(u / (s_in.size * s_out.size), abs=1e-12)


def test_rejects_empty_and_nan():
    with pytest.raises(ValueError):
        auroc([], [1.0])
    with pytest.raises(ValueError):
        auroc([np.nan], [1.0])
