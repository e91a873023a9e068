"""Test-set evaluations of the `vqvae` family for `jaxgen eval`.

    bpd            recon_nats, prior_nats, bound_nats, bound_bpd (and the bound
                   with a uniform prior over the K codes) on the first `num`
                   test images; the bound is explained in losses.py
    codebook       codes used and perplexity of the test images' codes, and the
                   perplexity of the training usage EMA
    sampling_time  seconds per image (codes from the prior, then decoding); for
                   a prior run both samplers, naive and cached
    pictures       test images with their reconstructions, samples, code usage
"""
from __future__ import annotations

import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen import data
from jaxgen.metrics import bits_per_dim
from jaxgen.vae.losses import decoder_mean
from jaxgen.vqvae import quantizer

TIMED_IMAGES = 16
EVAL_BATCH = 500


def test_batches(config, num: int):
    """The first `num` test examples in batches of EVAL_BATCH (the last may be smaller)."""
    arrays = data.load_arrays(config, "test")
    total = min(num, len(arrays["image"]))
    for start in range(0, total, EVAL_BATCH):
        yield {name: a[start:min(start + EVAL_BATCH, total)] for name, a in arrays.items()}


def _test_terms(run, num: int):
    """Per-example nats summed over the test images, and every test code."""
    from jaxgen.vqvae.family import nll_terms
    fn = jax.jit(functools.partial(nll_terms, run.config, run.state))
    sums, codes, count = {}, [], 0
    for batch in test_batches(run.config, num):
        terms = jax.device_get(fn(batch))
        codes.append(np.asarray(terms.pop("codes")))
        for name, value in terms.items():
            sums[name] = sums.get(name, 0.0) + float(np.sum(np.asarray(value, np.float64)))
        count += len(batch["image"])
    return {name: total / count for name, total in sums.items()}, np.concatenate(codes), count


def evaluate_bpd(run, key, num: int) -> dict:
    from jaxgen.vqvae.family import NUM_DIMS, is_prior_stage
    del key
    means, codes, count = _test_terms(run, num)
    uniform_prior = float(codes[0].size * np.log(run.config.num_codes))
    return {"recon_nats": means["recon"], "prior_nats": means["prior"],
            "bound_nats": means["bound"],
            "bound_bpd": float(bits_per_dim(means["bound"], NUM_DIMS)),
            "recon_bpd": float(bits_per_dim(means["recon"], NUM_DIMS)),
            "uniform_prior_bound_bpd": float(bits_per_dim(means["recon"] + uniform_prior,
                                                          NUM_DIMS)),
            "prior": "pixelcnn" if is_prior_stage(run.config) else "unigram",
            "num_images": count}


def evaluate_codebook(run, key, num: int) -> dict:
    from jaxgen.vqvae.family import vq_parts
    del key
    _, codes, count = _test_terms(run, num)
    counts = quantizer.code_counts(jnp.asarray(codes), run.config.num_codes)
    usage = vq_parts(run.config, run.state)["code_usage"]
    return {"num_codes": run.config.num_codes, "test_codes_used": int(jnp.sum(counts > 0)),
            "test_perplexity": float(quantizer.perplexity(counts)),
            "train_usage_perplexity": float(quantizer.perplexity(usage)), "num_images": count}


def time_sampling(run, key, num: int, sampler: str) -> float:
    """Seconds per image of one compiled `sample` call with the given sampler."""
    from jaxgen.vqvae.family import sample
    config = run.config.copy_and_resolve_references()
    config.sampler = sampler
    fn = jax.jit(functools.partial(sample, config), static_argnames="num")
    jax.block_until_ready(fn(run.state, key, num=num))  # compile
    start = time.perf_counter()
    jax.block_until_ready(fn(run.state, jax.random.fold_in(key, 1), num=num))
    return (time.perf_counter() - start) / num


def evaluate_sampling_time(run, key, num: int) -> dict:
    from jaxgen.vqvae.family import is_prior_stage
    num = min(num, TIMED_IMAGES)
    if not is_prior_stage(run.config):
        return {"unigram_s_per_image": time_sampling(run, key, num, "cached"), "timed_batch": num}
    naive = time_sampling(run, key, num, "naive")
    cached = time_sampling(run, key, num, "cached")
    return {"naive_s_per_image": naive, "cached_s_per_image": cached,
            "cached_speedup": naive / cached, "timed_batch": num}


def pictures(run, key, outdir: str) -> list:
    """reconstructions.png (rows: test images, then their reconstructions),
    samples.png, code_usage.png (test frequency of each code, sorted)."""
    from jaxgen.engine.images import save_image_grid
    from jaxgen.vqvae.family import decode_codes, encode_codes, vq_parts
    os.makedirs(outdir, exist_ok=True)
    vq = vq_parts(run.config, run.state)
    images = next(test_batches(run.config, 16))["image"]
    codes = encode_codes(run.config, vq, images)
    recon = decoder_mean(decode_codes(run.config, vq, codes))
    originals = images.astype(np.float32) / 255.0
    pairs = np.concatenate([originals[:8], recon[:8], originals[8:16], recon[8:16]])
    written = [save_image_grid(os.path.join(outdir, "reconstructions.png"), pairs, ncols=8)]
    written.append(save_image_grid(os.path.join(outdir, "samples.png"), run.sample(key, 64)))
    written.append(_plot_usage(run, os.path.join(outdir, "code_usage.png")))
    return written


def _plot_usage(run, path: str) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    _, codes, _ = _test_terms(run, 2000)
    counts = np.sort(np.bincount(codes.ravel(), minlength=run.config.num_codes))[::-1]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(np.arange(len(counts)), counts / counts.sum(), width=1.0)
    ax.set_xlabel("code (sorted by test frequency)")
    ax.set_ylabel("frequency")
    ax.set_title(f"code usage, {int((counts > 0).sum())}/{len(counts)} codes used")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _pictures_metric(run, key, num):
    return {"pictures": pictures(run, key, os.path.join(run.workdir, "pictures"))}


EVALUATIONS = {"bpd": evaluate_bpd, "codebook": evaluate_codebook,
               "sampling_time": evaluate_sampling_time, "pictures": _pictures_metric}
