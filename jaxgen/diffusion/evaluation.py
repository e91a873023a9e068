"""`jaxgen eval` evaluations of diffusion runs (each `fn(run, key, num) -> dict`).

    vb        variational bound on -log p(x) of the first `num` test images,
              nats per image and bits/dim (vb_timesteps levels per image;
              = num_timesteps gives the exact sum, fewer a stratified estimate)
    pictures  forward process, reverse chain, and guidance grids (pictures.py)

FID/KID/precision-recall of samples come from jaxgen.metrics (`--metrics fid,...`)
with the sampling knobs given as --config overrides.
"""
from __future__ import annotations

import functools
import os

import jax
import numpy as np

from jaxgen import data
from jaxgen.metrics import bits_per_dim

EVAL_BATCH = 100
NUM_DIMS = 28 * 28


def evaluate_vb(run, key, num: int) -> dict:
    fn = jax.jit(functools.partial(run.family.log_likelihood, run.config, run.state))
    arrays = data.load_arrays(run.config, "test")
    total = min(num, len(arrays["image"]))
    nats = []
    for i, start in enumerate(range(0, total, EVAL_BATCH)):
        batch = {name: a[start:start + EVAL_BATCH] for name, a in arrays.items()}
        nats.append(-np.asarray(fn(batch, jax.random.fold_in(key, i)), np.float64))
    nats = np.concatenate(nats)[:total]
    mean = float(nats.mean())
    return {"vb_nll_nats": mean, "vb_bpd": float(bits_per_dim(mean, NUM_DIMS)),
            "vb_bpd_stderr": float(bits_per_dim(nats.std(ddof=1) / np.sqrt(len(nats)), NUM_DIMS))
            if len(nats) > 1 else float("nan"),
            "vb_timesteps": run.config.vb_timesteps, "num_images": int(len(nats))}


def pictures(run, key, outdir: str) -> list:
    from jaxgen.diffusion import pictures as pictures_lib
    return pictures_lib.write_pictures(run, key, outdir)


def _pictures_metric(run, key, num):
    return {"pictures": pictures(run, key, os.path.join(run.workdir, "pictures"))}


EVALUATIONS = {"vb": evaluate_vb, "pictures": _pictures_metric}
