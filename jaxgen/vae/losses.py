"""The objectives of autoencoders and VAEs, and the VAE's likelihood bound.

Conventions: images arrive as uint8 pixels [B, H, W, C]; the networks see them
zero-padded (models.network_input) and the decoder's output is cropped back to
H x W before any likelihood is read, so the padding never contributes nats.
Every per-example value is in nats; the objectives average over the batch.
The probability itself (KL, log-densities, the discretized logistic, IWAE) is
jaxgen.nn.distributions'; what is here is how this family reads its decoder.

VAE objective (per example, averaged over the batch):
    loss = recon_weight * E_q[-log p(x | z)] + KL(q(z | x) || N(0, I))
recon_weight = 1 is the ELBO; recon_weight = 1/beta is the beta-VAE weighting
(beta > 1 pushes towards the prior, beta < 1 towards sharper reconstructions).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.nn import distributions
from jaxgen.nn.padding import crop_to
from jaxgen.vae import models

MIN_LOG_SCALE = -7.0  # the logistic's floor: scale >= ~1e-3 of the [0, 1] range


def reconstruction_nll(likelihood: str, decoder_out, pixels):
    """-log p(x | z) per example. decoder_out [B, H', W', out] (padded), pixels
    uint8 [B, H, W, C] -> [B]."""
    out = crop_to(decoder_out, pixels.shape[1:3])
    channels = pixels.shape[-1]
    if likelihood == "bernoulli":
        targets = pixels.astype(jnp.float32) / (distributions.NUM_PIXEL_VALUES - 1)
        log_probs = distributions.bernoulli_log_prob(out, targets)
    elif likelihood == "logistic":
        mean = jax.nn.sigmoid(out[..., :channels])
        log_scale = jnp.maximum(out[..., channels:2 * channels], MIN_LOG_SCALE)
        log_probs = distributions.discretized_logistic_log_prob(pixels, mean, log_scale)
    else:
        raise ValueError(f"unknown likelihood {likelihood!r}")
    return -jnp.sum(log_probs, axis=(1, 2, 3))


def decoder_mean(decoder_out, image_shape):
    """The image a decoder output stands for, [B, H, W, C] in [0, 1]: the first C
    channels are the Bernoulli logits or the logistic's mean logits, so both
    likelihoods read the same. image_shape: (H, W, C) of the dataset."""
    height, width, channels = image_shape
    return jax.nn.sigmoid(crop_to(decoder_out, (height, width))[..., :channels])


def latent_kl_per_dim(mean, log_var):
    """KL(q(z | x) || N(0, I)) of each latent dimension, closed form. [B, D]"""
    return distributions.gaussian_kl(mean, log_var)


def elbo_terms(config, params, batch, key):
    """{"recon": E_q[-log p(x | z)] with one draw z ~ q from `key` [B],
    "kl_per_dim": [B, D]}: the two terms of -ELBO."""
    labels = batch.get("label")
    mean, log_var = models.encode(config, params, batch["image"], labels)
    z = distributions.reparameterize(key, mean, log_var)
    recon = reconstruction_nll(config.likelihood, models.decode(config, params, z, labels),
                               batch["image"])
    return {"recon": recon, "kl_per_dim": latent_kl_per_dim(mean, log_var)}


def vae_loss(config, params, batch, key):
    """(recon_weight * recon + KL averaged over the batch, metrics); `key` draws eps."""
    terms = elbo_terms(config, params, batch, key)
    recon, kl = terms["recon"], jnp.sum(terms["kl_per_dim"], axis=-1)  # [B], [B]
    loss = jnp.mean(config.recon_weight * recon + kl)
    return loss, {"recon": jnp.mean(recon), "kl": jnp.mean(kl), "elbo": -jnp.mean(recon + kl)}


def autoencoder_recon(config, params, batch):
    """(-log p(x | z) [B], codes z [B, D]) of the deterministic autoencoder."""
    labels = batch.get("label")
    z = models.encode(config, params, batch["image"], labels)
    out = models.decode(config, params, z, labels)
    return reconstruction_nll(config.likelihood, out, batch["image"]), z


def autoencoder_loss(config, params, batch, key):
    """(mean reconstruction NLL, metrics with the batch's latents); deterministic."""
    del key
    recon, z = autoencoder_recon(config, params, batch)
    loss = jnp.mean(recon)
    return loss, {"recon": loss, "z": z}


def iwae_log_likelihood(config, params, batch, key):
    """Importance-weighted lower bound on log p(x), K = iwae_samples, nats per
    example [B]; the K decoder passes run iwae_chunk_size at a time, so memory
    is bounded for any K (jaxgen.nn.distributions.iwae_log_likelihood)."""
    labels = batch.get("label")
    mean, log_var = models.encode(config, params, batch["image"], labels)

    def log_joint(z):  # [B, D] -> log p(x | z) + log p(z), [B]
        out = models.decode(config, params, z, labels)
        return (-reconstruction_nll(config.likelihood, out, batch["image"])
                + distributions.standard_normal_log_prob(z))

    return distributions.iwae_log_likelihood(log_joint, mean, log_var, key,
                                             config.iwae_samples, config.iwae_chunk_size)
