"""Interpolated Kneser-Ney trigram, computed exactly from the training counts.

    P3(w | u, v) = max(c(uvw) - D3, 0) / c(uv.) + D3 N1+(uv.) / c(uv.) * P2(w | v)
    P2(w | v)    = max(N1+(.vw) - D2, 0) / N1+(.v.) + D2 N1+(v:) / N1+(.v.) * P1(w)
    P1(w)        = max(N1+(.w) - D1, 0) / N1+(..)  + D1 N1+(:) / N1+(..) * 1 / V

c(uvw): trigram counts of the training stream; c(uv.) their sum over w and
N1+(uv.) the number of distinct w. The lower orders use continuation counts
(Kneser & Ney 1995; Chen & Goodman 1998, "interpolated"): N1+(.vw) is the
number of distinct u before "v w" among the trigram types, N1+(.v.) its sum
over w and N1+(v:) the number of w with N1+(.vw) > 0; N1+(.w) is the number
of distinct v before w among those bigram types, N1+(..) their number and
N1+(:) the number of w seen. A context with no counts backs off entirely
(weight 1) to the order below. One discount per order, D = n1 / (n1 + 2 n2)
from that order's counts of counts (Ney, Essen & Kneser 1994). Every
distribution sums to 1 over the vocabulary.

The tables are count arrays (numpy, built once per corpus), looked up in
JAX by binary search, so the model is a TrainState like any other and its
log-likelihood runs through the shared runner:

    ctx_key [C]   u * V + v of the trigram contexts, sorted; ctx_start, ctx_types,
                  ctx_total: the context's row in the trigram arrays, N1+(uv.), c(uv.)
    tri_w [N], tri_count [N]   each row's w sorted, and c(uvw)
    bi_key [M], bi_count [M]   v * V + w sorted, and N1+(.vw)
    mid_total [V], mid_types [V]   N1+(.v.), N1+(v:)
    uni_count [V]                  N1+(.w)
    discounts [3]                  D1, D2, D3
Each key array ends with a sentinel (the largest int32), so no table is empty.
"""
from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from jaxgen.errors import ConfigError

SENTINEL = np.iinfo(np.int32).max
MAX_VOCAB = 46340  # u * V + v must fit an int32


def discount(counts: np.ndarray) -> float:
    """D = n1 / (n1 + 2 n2) of a count array, kept in (0, 1) (0.5 without data)."""
    n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
    if n1 + 2 * n2 == 0:
        return 0.5
    return float(np.clip(n1 / (n1 + 2 * n2), 0.05, 0.95))


def _with_sentinel(keys: np.ndarray, *values: np.ndarray):
    return (np.append(keys, SENTINEL).astype(np.int32),
            *(np.append(v, 0).astype(np.int32) for v in values))


def build_tables(ids: np.ndarray, vocab_size: int) -> dict:
    """The count tables of a token stream (see module doc)."""
    if vocab_size > MAX_VOCAB:
        raise ConfigError(f"the n-gram model needs vocab_size <= {MAX_VOCAB}, got {vocab_size}")
    v_ = np.int64(vocab_size)
    s = np.asarray(ids, np.int64)
    tri = np.unique((s[:-2] * v_ + s[1:-1]) * v_ + s[2:], return_counts=True)
    tri_keys, tri_count = tri
    ctx, tri_w = tri_keys // v_, tri_keys % v_  # sorted by (ctx, w)
    ctx_key, ctx_start, ctx_types = np.unique(ctx, return_index=True, return_counts=True)
    ctx_total = np.add.reduceat(tri_count, ctx_start) if len(ctx) else np.zeros(0, np.int64)
    # Continuation counts: distinct u per (v, w) among the trigram types.
    bi_keys, bi_count = np.unique((ctx % v_) * v_ + tri_w, return_counts=True)
    bi_v, bi_w = bi_keys // v_, bi_keys % v_
    mid_total = np.bincount(bi_v, weights=bi_count, minlength=vocab_size)
    mid_types = np.bincount(bi_v, minlength=vocab_size)
    uni_count = np.bincount(bi_w, minlength=vocab_size)  # distinct v per w
    tables = {}
    (tables["ctx_key"], tables["ctx_start"], tables["ctx_types"],
     tables["ctx_total"]) = _with_sentinel(ctx_key, ctx_start, ctx_types, ctx_total)
    tables["tri_w"] = np.append(tri_w, SENTINEL).astype(np.int32)
    tables["tri_count"] = np.append(tri_count, 0).astype(np.int32)
    tables["bi_key"], tables["bi_count"] = _with_sentinel(bi_keys, bi_count)
    tables["mid_total"] = mid_total.astype(np.int32)
    tables["mid_types"] = mid_types.astype(np.int32)
    tables["uni_count"] = uni_count.astype(np.int32)
    tables["discounts"] = np.array([discount(uni_count), discount(bi_count),
                                    discount(tri_count)], np.float32)
    return tables


def _find(sorted_keys, queries):
    """Index of each query in a sorted key array, and whether it is there."""
    index = jnp.clip(jnp.searchsorted(sorted_keys, queries), 0, sorted_keys.shape[0] - 1)
    return index, sorted_keys[index] == queries


def _find_in_rows(values, starts, lengths, queries, vocab_size: int):
    """Binary search of each query in values[start : start + length] (sorted)."""
    lo, hi = starts, starts + lengths
    for _ in range(math.ceil(math.log2(vocab_size + 1)) + 1):  # a row holds <= V values
        mid = (lo + hi) // 2
        right = values[jnp.clip(mid, 0, values.shape[0] - 1)] < queries
        lo, hi = jnp.where((lo < hi) & right, mid + 1, lo), jnp.where((lo < hi) & ~right, mid, hi)
    index = jnp.clip(lo, 0, values.shape[0] - 1)
    return index, (lo < starts + lengths) & (values[index] == queries)


def _interpolate(count, total, types, d, lower):
    """max(count - d, 0) / total + d * types / total * lower; `lower` where total = 0."""
    safe = jnp.maximum(total, 1).astype(jnp.float32)
    mixed = (jnp.maximum(count - d, 0.0) + d * types * lower) / safe
    return jnp.where(total > 0, mixed, lower)


def unigram(t, w, vocab_size: int):
    total = jnp.sum(t["uni_count"])
    types = jnp.sum(t["uni_count"] > 0)
    return _interpolate(t["uni_count"][w], total, types, t["discounts"][0], 1.0 / vocab_size)


def bigram(t, v, w, vocab_size: int):
    """P2(w | v) for broadcastable int arrays v, w."""
    index, found = _find(t["bi_key"], v * vocab_size + w)
    count = jnp.where(found, t["bi_count"][index], 0)
    return _interpolate(count, t["mid_total"][v], t["mid_types"][v], t["discounts"][1],
                        unigram(t, w, vocab_size))


def trigram(t, u, v, w, vocab_size: int):
    """P3(w | u, v) for broadcastable int arrays u, v, w."""
    u, v, w = jnp.broadcast_arrays(u, v, w)
    row, has_ctx = _find(t["ctx_key"], u * vocab_size + v)
    total = jnp.where(has_ctx, t["ctx_total"][row], 0)
    types = jnp.where(has_ctx, t["ctx_types"][row], 0)
    index, found = _find_in_rows(t["tri_w"], t["ctx_start"][row], types, w, vocab_size)
    count = jnp.where(found & has_ctx, t["tri_count"][index], 0)
    return _interpolate(count, total, types, t["discounts"][2], bigram(t, v, w, vocab_size))


def window_log_probs(t, tokens, vocab_size: int):
    """log P of tokens[:, 1:] given the window before them: the first predicted
    token sees one token of context (P2), the others two (P3). [B, T]"""
    v, w = tokens[:, :-1], tokens[:, 1:]
    u = jnp.concatenate([tokens[:, :1], tokens[:, :-2]], axis=1)  # position 1's u is unused
    p3 = trigram(t, u, v, w, vocab_size)
    p2 = bigram(t, v, w, vocab_size)
    first = (jnp.arange(w.shape[1]) == 0)[None, :]
    return jnp.log(jnp.where(first, p2, p3))


def next_log_probs(t, u, v, has_u, vocab_size: int):
    """log P(. | u, v) over the vocabulary for contexts u, v [B] (P2 where not has_u). [B, V]"""
    w = jnp.arange(vocab_size)[None, :]
    p3 = trigram(t, u[:, None], v[:, None], w, vocab_size)
    p2 = bigram(t, v[:, None], w, vocab_size)
    return jnp.log(jnp.where(has_u[:, None], p3, p2))
