"""The `vqvae` family's own test-set evaluations for `jaxgen eval`.

    bound_terms    recon_nats, prior_nats, bound_nats (with standard errors) and the
                   bound with a uniform prior over the K codes, on the first `num`
                   test images; the bound is explained in losses.py. Its bits/dim
                   are the shared `nll` evaluation (likelihood_kind "bound").
    codebook       codes used and perplexity of the test images' codes, and the
                   perplexity of the training usage EMA
    pictures       test images with their reconstructions, samples, code usage

Sampling speed is the shared `sample_time` (`--config.sampler=naive` or `cached`
for a prior run). Every test-set value goes through jaxgen.metrics.runner.
"""
from __future__ import annotations

import os

import jax
import numpy as np

from jaxgen import data
from jaxgen.engine.images import save_image_grid
from jaxgen.metrics import runner
from jaxgen.vqvae import losses, quantizer
from jaxgen.vqvae.steps import decode_codes, encode_codes, is_prior_stage, nll_terms, vq_parts

RECONSTRUCTED_IMAGES = 16
USAGE_IMAGES = 2000  # test images whose codes the usage plot counts


def test_terms(run, key, num: int) -> dict:
    """{"recon", "prior", "bound": float64 [N], "codes": int [N, h, w]} of the first
    `num` test images."""
    fn = jax.jit(lambda batch, k: nll_terms(run.config, run.state, batch))
    values = runner.per_example(fn, data.load_split(run.config, "test"), key, num)
    values["codes"] = values["codes"].astype(np.int64)
    return values


def evaluate_bound_terms(run, key, num: int) -> dict:
    values = test_terms(run, key, num)
    out = {}
    for name in ("recon", "prior", "bound"):
        out[f"{name}_nats"], out[f"{name}_nats_stderr"] = runner.mean_and_stderr(values[name])
    grid_size = values["codes"][0].size
    out["uniform_prior_bound_nats"] = out["recon_nats"] + grid_size * float(
        np.log(run.config.num_codes))
    out["prior"] = "pixelcnn" if is_prior_stage(run.config) else "unigram"
    out["num_images"] = int(len(values["bound"]))
    return out


def evaluate_codebook(run, key, num: int) -> dict:
    values = test_terms(run, key, num)
    counts = np.bincount(values["codes"].ravel(), minlength=run.config.num_codes)
    usage = vq_parts(run.config, run.state)["code_usage"]
    return {"num_codes": run.config.num_codes, "test_codes_used": int(np.sum(counts > 0)),
            "test_perplexity": float(quantizer.perplexity(counts.astype(np.float32))),
            "train_usage_perplexity": float(quantizer.perplexity(usage)),
            "num_images": int(len(values["codes"]))}


def pictures(run, key, outdir: str) -> list:
    """reconstructions.png (rows: test images, then their reconstructions),
    samples.png, code_usage.png (test frequency of each code, sorted)."""
    os.makedirs(outdir, exist_ok=True)
    config = run.config
    vq = vq_parts(config, run.state)
    images = data.load_split(config, "test")["image"][:RECONSTRUCTED_IMAGES]
    codes = encode_codes(config, vq, images)
    recon = np.asarray(losses.decoder_mean(decode_codes(config, vq, codes),
                                           data.image_shape(config)))
    originals = images.astype(np.float32) / 255.0
    half = len(images) // 2
    pairs = np.concatenate([originals[:half], recon[:half], originals[half:], recon[half:]])
    written = [save_image_grid(os.path.join(outdir, "reconstructions.png"), pairs,
                               ncols=max(half, 1))]
    written.append(save_image_grid(os.path.join(outdir, "samples.png"), run.sample(key, 64)))
    written.append(_plot_usage(run, key, os.path.join(outdir, "code_usage.png")))
    return written


def _plot_usage(run, key, path: str) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    codes = test_terms(run, key, USAGE_IMAGES)["codes"]
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


EVALUATIONS = {"bound_terms": evaluate_bound_terms, "codebook": evaluate_codebook,
               "pictures": _pictures_metric}
