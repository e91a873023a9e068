"""The hierarchical VAE's own test-set evaluations, for `jaxgen eval`.

    elbo      -ELBO with one posterior draw per image, in nats and bits/dim, its
              reconstruction term, the KL of every latent group (top-down) and
              how many groups are active: a group is active when its mean KL
              exceeds ACTIVE_KL_NATS_PER_DIM nats per latent dimension of the
              group (the `vae` family's per-dimension threshold, 0.01)
    pictures  pictures.py

The importance-weighted bound (K = iwae_samples) in nats and bits/dim is the
shared `nll` evaluation (the family's log_likelihood); it has no second name here.

Each is `fn(run, key, num) -> dict` over the first `num` test images through
the one test-set runner (jaxgen.metrics.runner.per_example).
"""
from __future__ import annotations

import os

import jax
import numpy as np

from jaxgen import data
from jaxgen.hvae import losses, models
from jaxgen.metrics import runner
from jaxgen.metrics.divergences import bits_per_dim

ACTIVE_KL_NATS_PER_DIM = 0.01


def _per_example(run, key, num, fn) -> dict:
    batch_fn = jax.jit(lambda batch, k: fn(run.config, run.state.params, batch, k))
    return runner.per_example(batch_fn, data.load_split(run.config, "test"), key, num)


def evaluate_elbo(run, key, num: int) -> dict:
    values = _per_example(run, key, num, losses.elbo_terms)
    kl_groups = values["kl_per_group"]  # [N, G]
    nll, nll_stderr = runner.mean_and_stderr(values["recon"] + kl_groups.sum(1))
    dims = runner.likelihood_dims(run.config)
    image_shape = data.image_shape(run.config)
    mean_kl = kl_groups.mean(axis=0)  # [G]
    per_dim = mean_kl / np.asarray(models.group_dims(run.config, image_shape))
    return {"elbo_nll_nats": nll, "elbo_nll_nats_stderr": nll_stderr,
            "elbo_bpd": float(bits_per_dim(nll, dims)),
            "recon_nats": float(values["recon"].mean()), "kl_nats": float(mean_kl.sum()),
            "kl_per_group": {name: round(float(v), 3) for name, v in
                             zip(models.group_names(run.config, image_shape), mean_kl)},
            "active_groups": int(np.sum(per_dim > ACTIVE_KL_NATS_PER_DIM)),
            "num_groups": int(len(mean_kl)),
            "active_threshold_nats_per_dim": ACTIVE_KL_NATS_PER_DIM,
            "num_images": int(len(values["recon"]))}


def pictures(run, key, outdir: str) -> list:
    from jaxgen.hvae import pictures as pictures_lib  # matplotlib: paid only when drawing
    return pictures_lib.write_pictures(run, key, outdir)


def _pictures_metric(run, key, num):
    return {"pictures": pictures(run, key, os.path.join(run.workdir, "pictures"))}


EVALUATIONS = {"elbo": evaluate_elbo, "pictures": _pictures_metric}
