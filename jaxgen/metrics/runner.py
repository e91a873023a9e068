"""The one test-set runner (DESIGN.md, "Evaluation and metrics").

Every test-set number of every family goes through `per_example`: the first
`num` examples of a split in fixed-size batches, the last one padded by
repeating its final example and masked out, so one compilation serves any
`num`; batch i gets the key fold_in(key, i), so an example's value does not
depend on `num`. Per-example values come back to the host and are reduced
in float64 there, with standard errors.

The shared likelihood evaluation (`nll`) reads only the family's
`log_likelihood` and `likelihood_kind`; the shared timing evaluation
(`sample_time`) only its `sample` and `network_evals`.
"""
from __future__ import annotations

import functools
import math
import time

import jax
import numpy as np

from jaxgen import data
from jaxgen.errors import JaxgenError
from jaxgen.metrics.divergences import bits_per_dim

EVAL_BATCH = 250          # examples per compiled test batch
SAMPLE_TIME_BATCH = 100   # samples per timed call


def num_examples(arrays: dict) -> int:
    return len(next(iter(arrays.values())))


def padded_batches(arrays: dict, num: int, batch_size: int = EVAL_BATCH):
    """Yield (batch of exactly `batch_size` rows, number of real rows) over the
    first `num` examples; the last batch repeats its final real example."""
    total = min(num, num_examples(arrays))
    if total < 1:
        raise JaxgenError("the evaluation needs at least one example (--num >= 1)")
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        rows = np.arange(start, start + batch_size).clip(max=stop - 1)
        yield {name: np.asarray(a)[rows] for name, a in arrays.items()}, stop - start


def per_example(fn, arrays: dict, key, num: int, batch_size: int = EVAL_BATCH) -> dict:
    """{name: float64 [N]} of `fn(batch, key) -> {name: [B] (or [B, ...])}` over the
    first `num` examples. `fn` should be jitted: it is called with one shape."""
    chunks: dict[str, list] = {}
    for i, (batch, valid) in enumerate(padded_batches(arrays, num, batch_size)):
        values = jax.device_get(fn(batch, jax.random.fold_in(key, i)))
        if not isinstance(values, dict):
            values = {"value": values}
        for name, value in values.items():
            chunks.setdefault(name, []).append(np.asarray(value, np.float64)[:valid])
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def mean_and_stderr(values) -> tuple[float, float]:
    """Mean over the leading axis and its standard error (NaN for one value)."""
    values = np.asarray(values, np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan")
    return mean, float(values.std(ddof=1) / math.sqrt(len(values)))


# --------------------------------------------------------------------- likelihood


def likelihood_dims(config) -> int:
    """Dimensions bits/dim divide by: the pixels x channels of one image, 0 otherwise."""
    spec = data.spec(config)
    return spec.fields["image"].size if "image" in spec.fields else 0


def require_likelihood(run) -> str:
    kind = run.family.kind_of_likelihood(run.config)
    if kind is None:
        why = ("it has no likelihood" if run.family.log_likelihood is None else
               "its configuration gives no likelihood of the data (e.g. a Bernoulli "
               "decoder on grey levels)")
        raise JaxgenError(f"`nll` is not available for this {run.config.family} run: {why}")
    return kind


def evaluate_nll(run, key, num: int) -> dict:
    """Test NLL of the first `num` test examples: nats, bits/dim, standard errors.

    likelihood_kind says what the number is: `exact`, a `bound` (a VAE's IWAE,
    a diffusion model's variational bound) or a `dequantized bound` (a flow's
    continuous density of dequantized pixels, a bound on the discrete NLL).
    """
    kind = require_likelihood(run)
    log_likelihood = jax.jit(functools.partial(run.family.log_likelihood, run.config, run.state))
    test = data.load_split(run.config, "test")
    nats = -per_example(log_likelihood, test, key, num)["value"]
    nll, nll_stderr = mean_and_stderr(nats)
    out = {"nll_nats": nll, "nll_nats_stderr": nll_stderr, "num_images": int(len(nats)),
           "likelihood_kind": kind}
    dims = likelihood_dims(run.config)
    if dims:
        out["bpd"] = float(bits_per_dim(nll, dims))
        out["bpd_stderr"] = float(bits_per_dim(nll_stderr, dims))
    if "num_words" in test:  # token windows: perplexity per word, whatever the tokeniser
        out.update(per_word_perplexity(nats, test["num_words"][:len(nats)]))
    return out


def per_word_perplexity(nats, words) -> dict:
    """exp(total nats / total words) of windows with `nats` [N] and `words` [N]."""
    total_nats, total_words = float(np.sum(nats)), int(np.sum(words))
    per_word = total_nats / max(total_words, 1)
    return {"nll_nats_per_word": per_word, "ppl_word": float(math.exp(per_word)),
            "num_words": total_words}


# --------------------------------------------------------------------- timing


def network_evals(run) -> float:
    fn = run.family.network_evals
    return float(fn(run.config)) if fn is not None else 1.0


def evaluate_sample_time(run, key, num: int) -> dict:
    """Samples per second of the jitted sampler (timed after a compiling call)
    and network evaluations per sample, at batch min(num, SAMPLE_TIME_BATCH)."""
    if run.family.sample is None:
        raise JaxgenError(f"family {run.config.family} does not sample")
    batch = max(1, min(num, SAMPLE_TIME_BATCH))
    jax.block_until_ready(run.sample(key, batch))  # compiles
    start = time.perf_counter()
    jax.block_until_ready(run.sample(jax.random.fold_in(key, 1), batch))
    seconds = time.perf_counter() - start
    return {"images_per_sec": batch / seconds, "seconds_per_image": seconds / batch,
            "network_evals_per_image": network_evals(run), "sample_batch": batch,
            "device": jax.devices()[0].platform}
