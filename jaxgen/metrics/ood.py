"""Out-of-distribution detection scores.

`auroc` measures how well a score separates in-distribution inputs from
out-of-distribution ones, with the convention that a HIGHER score means
"more in-distribution" (e.g. log p(x), or a classifier's max softmax).
"""
import numpy as np
from scipy.stats import rankdata


def auroc(scores_in, scores_out) -> float:
    """Area under the ROC curve for telling `scores_in` (positives) from `scores_out`.

    Computed exactly as the Mann-Whitney U statistic divided by n_in * n_out:
    the probability that a random in-distribution score beats a random
    out-of-distribution one, ties counted as half. 1 = perfect separation,
    0.5 = chance, 0 = the score ranks OOD inputs as more in-distribution.
    NaN scores are rejected; -inf/+inf are fine (they rank like any number).
    """
    s_in = np.asarray(scores_in, dtype=np.float64).ravel()
    s_out = np.asarray(scores_out, dtype=np.float64).ravel()
    n_in, n_out = s_in.size, s_out.size
    if n_in == 0 or n_out == 0:
        raise ValueError("auroc needs at least one score on each side")
    if np.isnan(s_in).any() or np.isnan(s_out).any():
        raise ValueError("auroc got NaN scores")
    # Average ranks (1-based) over the pooled scores: tied values share the
    # mean of their ranks, which is exactly what counts a tie as half a win.
    ranks = rankdata(np.concatenate([s_in, s_out]), method="average")
    # Rank-sum of the positives minus its minimum possible value = number of
    # (in, out) pairs where the in-score wins (+ 0.5 per tie) = U.
    u = ranks[:n_in].sum() - n_in * (n_in + 1) / 2.0
    return float(u / (n_in * n_out))
