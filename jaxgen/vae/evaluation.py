"""Test-set evaluations of autoencoders and VAEs for `jaxgen eval`.

Each evaluation is `fn(run, key, num) -> dict` over the first `num` test
images. Likelihoods are in nats per image; bits/dim are given only for the
"logistic" likelihood, the one that is a probability of 8-bit images (the
course's Bernoulli cross-entropy on grey levels is not).
"""
from __future__ import annotations

import functools

import jax
import numpy as np

from jaxgen import data
from jaxgen.metrics import bits_per_dim
from jaxgen.vae import family as vae
from jaxgen.vae import losses

EVAL_BATCH = 500
NUM_DIMS = 28 * 28
ACTIVE_KL_NATS = 0.01  # a latent dimension with less average KL carries no information


def test_batches(config, num: int, batch_size: int = EVAL_BATCH):
    arrays = data.load_arrays(config, "test")
    total = min(num, len(arrays["image"]))
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        yield {name: a[start:stop] for name, a in arrays.items()}


def _reduce(run, key, num, per_batch_fn) -> dict:
    """Sum per-example arrays returned by `per_batch_fn` over the test set, then average."""
    fn = jax.jit(functools.partial(per_batch_fn, run.config, run.state))
    sums, count = {}, 0
    for i, batch in enumerate(test_batches(run.config, num)):
        values = jax.device_get(fn(batch, jax.random.fold_in(key, i)))
        for name, value in values.items():
            sums[name] = sums.get(name, 0.0) + np.sum(np.asarray(value, np.float64), axis=0)
        count += len(batch["image"])
    return {name: total / count for name, total in sums.items()} | {"num_images": count}


def _elbo_terms(config, state, batch, key):
    mean, log_var = vae.encode(config, state.params, batch["image"], batch["label"])
    z = losses.reparameterize(key, mean, log_var)
    out = vae.decode(config, state.params, z, batch["label"])
    return {"recon": losses.reconstruction_nll(config.likelihood, out, batch["image"]),
            "kl_per_dim": losses.gaussian_kl_per_dim(mean, log_var)}


def _with_bits(config, values: dict, nats_keys) -> dict:
    if config.likelihood == "logistic":
        for name in nats_keys:
            values[name.replace("_nats", "_bpd")] = float(bits_per_dim(values[name], NUM_DIMS))
    return values


def evaluate_elbo(run, key, num: int) -> dict:
    """Test ELBO (one posterior sample per image) and the KL of each latent dimension."""
    r = _reduce(run, key, num, _elbo_terms)
    kl_per_dim = np.asarray(r["kl_per_dim"])
    values = {"elbo_nll_nats": float(r["recon"] + kl_per_dim.sum()),
              "recon_nats": float(r["recon"]), "kl_nats": float(kl_per_dim.sum()),
              "kl_per_dim": [round(float(v), 4) for v in kl_per_dim],
              "active_dims": int(np.sum(kl_per_dim > ACTIVE_KL_NATS)),
              "num_images": r["num_images"], "likelihood": run.config.likelihood}
    return _with_bits(run.config, values, ["elbo_nll_nats"])


def evaluate_iwae(run, key, num: int) -> dict:
    """Importance-weighted bound with K = iwae_samples: -log p(x) <= this NLL <= ELBO NLL."""
    def nll(config, state, batch, key):
        return {"nll": -vae.log_likelihood(config, state, batch, key)}

    r = _reduce(run, key, num, nll)
    values = {"iwae_nll_nats": float(r["nll"]), "iwae_k": run.config.iwae_samples,
              "num_images": r["num_images"], "likelihood": run.config.likelihood}
    return _with_bits(run.config, values, ["iwae_nll_nats"])


def evaluate_reconstruction(run, key, num: int) -> dict:
    """Autoencoder: mean reconstruction NLL of test images."""
    def recon(config, state, batch, key):
        z = vae.encode(config, state.params, batch["image"], batch["label"])
        out = vae.decode(config, state.params, z, batch["label"])
        return {"recon": losses.reconstruction_nll(config.likelihood, out, batch["image"])}

    r = _reduce(run, key, num, recon)
    return {"recon_nats": float(r["recon"]), "num_images": r["num_images"],
            "likelihood": run.config.likelihood}


def pictures(run, key, outdir: str) -> list:
    from jaxgen.vae import pictures as pictures_lib
    return pictures_lib.write_pictures(run, key, outdir)


def _pictures_metric(run, key, num):
    import os
    return {"pictures": pictures(run, key, os.path.join(run.workdir, "pictures"))}


VAE_EVALUATIONS = {"elbo": evaluate_elbo, "iwae": evaluate_iwae, "pictures": _pictures_metric}
AUTOENCODER_EVALUATIONS = {"recon": evaluate_reconstruction, "pictures": _pictures_metric}
