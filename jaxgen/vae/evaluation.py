"""The test-set evaluations of autoencoders and VAEs that are their own, for `jaxgen eval`.

    elbo       (vae) the ELBO with one posterior draw per image, its two terms, the
               KL of every latent dimension and how many dimensions are active
    iwae       (vae) the importance-weighted bound (K = iwae_samples) in nats per
               image for either likelihood: with the Bernoulli decoder the only
               way to state the course's cross-entropy at K > 1
    recon      (autoencoder) the reconstruction NLL
    pictures   pictures.py

Each is `fn(run, key, num) -> dict` over the first `num` test images, through
the one test-set runner (jaxgen.metrics.runner.per_example). Values are nats
per image. The likelihood bound itself (IWAE, K = iwae_samples) and its
bits/dim are the shared `nll` evaluation, offered when the likelihood is the
discretized logistic; `--config.iwae_samples=1` makes it the ELBO's. The
course's Bernoulli cross-entropy on grey levels is not a probability of 8-bit
images, so its nats are only reported here.
"""
from __future__ import annotations

import os

import jax
import numpy as np

from jaxgen import data
from jaxgen.metrics import runner
from jaxgen.vae import losses

ACTIVE_KL_NATS = 0.01  # a latent dimension with less average KL carries no information


def _per_example(run, key, num, fn) -> dict:
    """{name: float64 [N, ...]} of fn(config, params, batch, key) over the test images."""
    batch_fn = jax.jit(lambda batch, k: fn(run.config, run.state.params, batch, k))
    return runner.per_example(batch_fn, data.load_split(run.config, "test"), key, num)


def evaluate_elbo(run, key, num: int) -> dict:
    """Test ELBO (one posterior sample per image) and the KL of each latent dimension."""
    values = _per_example(run, key, num, losses.elbo_terms)
    kl_per_dim = values["kl_per_dim"].mean(axis=0)  # [D]
    nll, nll_stderr = runner.mean_and_stderr(values["recon"] + values["kl_per_dim"].sum(1))
    return {"elbo_nll_nats": nll, "elbo_nll_nats_stderr": nll_stderr,
            "recon_nats": float(values["recon"].mean()), "kl_nats": float(kl_per_dim.sum()),
            "kl_per_dim": [round(float(v), 4) for v in kl_per_dim],
            "active_dims": int(np.sum(kl_per_dim > ACTIVE_KL_NATS)),
            "num_images": int(len(values["recon"])), "likelihood": run.config.likelihood}


def _recon(config, params, batch, key):
    del key
    return {"recon": losses.autoencoder_recon(config, params, batch)[0]}


def evaluate_reconstruction(run, key, num: int) -> dict:
    """Autoencoder: mean reconstruction NLL of test images."""
    values = _per_example(run, key, num, _recon)
    recon, recon_stderr = runner.mean_and_stderr(values["recon"])
    return {"recon_nats": recon, "recon_nats_stderr": recon_stderr,
            "num_images": int(len(values["recon"])), "likelihood": run.config.likelihood}


def pictures(run, key, outdir: str) -> list:
    from jaxgen.vae import pictures as pictures_lib  # matplotlib: paid only when drawing
    return pictures_lib.write_pictures(run, key, outdir)


def _pictures_metric(run, key, num):
    return {"pictures": pictures(run, key, os.path.join(run.workdir, "pictures"))}


def _iwae(config, params, batch, key):
    return {"log_likelihood": losses.iwae_log_likelihood(config, params, batch, key)}


def evaluate_iwae(run, key, num: int) -> dict:
    """The IWAE bound in nats per image, whatever the likelihood (see `nll` for bits/dim)."""
    values = _per_example(run, key, num, _iwae)
    nll, nll_stderr = runner.mean_and_stderr(-values["log_likelihood"])
    return {"iwae_nll_nats": nll, "iwae_nll_nats_stderr": nll_stderr,
            "iwae_samples": int(run.config.iwae_samples),
            "num_images": int(len(values["log_likelihood"])), "likelihood": run.config.likelihood}


VAE_EVALUATIONS = {"elbo": evaluate_elbo, "iwae": evaluate_iwae, "pictures": _pictures_metric}
AUTOENCODER_EVALUATIONS = {"recon": evaluate_reconstruction, "pictures": _pictures_metric}
