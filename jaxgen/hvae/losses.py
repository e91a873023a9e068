"""The hierarchical VAE's objectives and likelihood bound.

Per example, in nats (x: uint8 pixels, z = (z_1 .. z_G) top-down):

    -ELBO = E_q[-log p(x | z)] + sum_g E_q[KL(q(z_g | x, z_<g) || p(z_g | z_<g))]

with the group KLs in closed form given the sampled groups above (latents.py)
and p(x | z) a mixture of discretized logistics on [0, 255] per pixel and
channel (jaxgen.nn.distributions). The training loss weights the group KLs
(warm-up and balancing, steps.py) and is divided by the number of pixel
dimensions, so its gradient norms (which the clipping and the skipping of
outlier updates compare against fixed thresholds) do not grow with the image.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen import data
from jaxgen.hvae import latents, models
from jaxgen.nn import distributions

MIN_LOG_SCALE = -7.0  # the logistics' floor: scale >= ~1e-3 of the [0, 1] range


def split_mixture(out, num_mixtures: int):
    """out [..., 3M] -> (logits, means in [0, 1] units, log-scales), each [..., M]."""
    logits, raw_means, raw_log_scales = jnp.split(out, [num_mixtures, 2 * num_mixtures], axis=-1)
    return logits, 0.5 + raw_means, jnp.maximum(raw_log_scales, MIN_LOG_SCALE)


def reconstruction_nll(out, pixels, num_mixtures: int):
    """-log p(x | z) per example. out [B, H, W, C, 3M], pixels uint8 [B, H, W, C] -> [B]"""
    log_probs = distributions.discretized_logistic_mixture_log_prob(
        pixels.astype(jnp.int32), *split_mixture(out, num_mixtures))
    return -jnp.sum(log_probs, axis=(1, 2, 3))


def mean_image(out, num_mixtures: int):
    """The mixture's mean pixel, each component's location clipped to [0, 1]. [B, H, W, C]"""
    logits, means, _ = split_mixture(out, num_mixtures)
    mean = jnp.sum(jax.nn.softmax(logits, axis=-1) * jnp.clip(means, 0.0, 1.0), axis=-1)
    return jnp.clip(mean, 0.0, 1.0)  # the weighted sum may round a hair past 1


def apply_inference(config, params, pixels, key):
    """(out, groups) along the posterior path; `key` draws every group's eps."""
    model = models.make_model(config, data.image_shape(config))
    return model.apply(params, pixels, key)


def elbo_terms(config, params, batch, key):
    """{"recon": [B], "kl_per_group": [B, G]}: the terms of -ELBO, one posterior draw."""
    out, groups = apply_inference(config, params, batch["image"], key)
    return {"recon": reconstruction_nll(out, batch["image"], config.num_mixtures),
            "kl_per_group": jnp.stack([latents.group_kl(g) for g in groups], axis=1)}


def weighted_loss(config, params, batch, key, kl_weights_fn=None):
    """(mean over the batch of (recon + sum_g w_g KL_g) / dims, (metrics in nats per
    image, w [G])).

    kl_weights_fn(KLs [B, G], no gradient) -> w [G]: warm-up times balancing;
    None: all ones, the ELBO."""
    terms = elbo_terms(config, params, batch, key)
    recon, kl_groups = terms["recon"], terms["kl_per_group"]  # [B], [B, G]
    dims = float(data.spec(config).fields["image"].size)
    weights = (jnp.ones(kl_groups.shape[1]) if kl_weights_fn is None
               else kl_weights_fn(jax.lax.stop_gradient(kl_groups)))
    loss = jnp.mean(recon + kl_groups @ weights) / dims
    kl = jnp.sum(kl_groups, axis=1)
    metrics = {"recon": jnp.mean(recon), "kl": jnp.mean(kl), "nelbo": jnp.mean(recon + kl),
               "bpd_elbo": jnp.mean(recon + kl) / (dims * jnp.log(2.0))}
    metrics.update({f"kl_group{g}": v for g, v in enumerate(jnp.mean(kl_groups, axis=0))})
    return loss, (metrics, weights)


def log_importance_weight(config, params, pixels, key):
    """log p(x, z) - log q(z | x) at one posterior draw z from `key`. [B]"""
    out, groups = apply_inference(config, params, pixels, key)
    log_ratio = sum(latents.group_log_ratio(g) for g in groups)  # log q(z|x) - log p(z)
    return -reconstruction_nll(out, pixels, config.num_mixtures) - log_ratio


def iwae_log_likelihood(config, params, batch, key, num_samples=None):
    """The importance-weighted bound on log p(x), K = iwae_samples, nats per example [B];
    the K posterior draws run iwae_chunk_size at a time (memory bounded for any K)."""
    k = config.iwae_samples if num_samples is None else num_samples
    return distributions.importance_weighted_bound(
        lambda sample_key: log_importance_weight(config, params, batch["image"], sample_key),
        key, k, config.iwae_chunk_size)
