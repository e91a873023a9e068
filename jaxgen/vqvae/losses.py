"""Pure objectives of the VQ-VAE's two stages, and its likelihood bound.

Stage 1 (autoencoder), per example:
    loss = -log p(x | z_q)  +  [||sg(z_e) - z_q||^2]  +  beta ||z_e - sg(z_q)||^2
with the bracketed codebook loss only when the codebook learns by gradient
(with EMA updates the codebook follows the encoder by averaging instead).
p(x | z_q) is the VAE's discretized logistic over the 256 grey levels of the
central 28x28 pixels (jaxgen.vae.losses), a probability of 8-bit images.

Stage 2 (prior): -log p(z_q(x)) of the frozen encoder's code grid under an
autoregressive model over K categories (jaxgen.autoregressive).

The likelihood bound. The generative model is p(x) = sum_z p(z) p(x | z) over
code grids z, which is a distribution over 8-bit images because both factors
are discrete. Every term of the sum is >= 0, so for any one grid, in
particular the encoder's z_q(x),
    log p(x) >= log p(z_q(x)) + log p(x | z_q(x)).
This is the ELBO with the point-mass posterior q(z | x) = 1[z = z_q(x)], whose
entropy is 0. Its negative, divided by 784 ln 2, is the bits/dim we report: an
upper bound on the model's true NLL.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.autoregressive import likelihoods
from jaxgen.vae import losses as vae_losses
from jaxgen.vqvae import quantizer

LIKELIHOOD = "logistic"  # the VAE's discretized logistic: comparable in bits/dim
OUTPUT_CHANNELS = vae_losses.output_channels(LIKELIHOOD)
UNIGRAM_SMOOTHING = 1e-3  # share of probability spread uniformly over all codes


def quantize_forward(model, ae_params, codebook, pixels):
    """Encode, quantize and decode uint8 images [B, 28, 28, 1].

    Returns z_e, z_q [B, 8, 8, D], indices [B, 8, 8] and the decoder output
    [B, 32, 32, 2]; the decoder reads z_q through the straight-through estimator.
    """
    z_e = model.apply(ae_params, vae_losses.to_unit_padded(pixels), method="encode")
    indices = quantizer.nearest_code(z_e, codebook)
    z_q = quantizer.lookup(codebook, indices)
    out = model.apply(ae_params, quantizer.straight_through(z_e, z_q), method="decode")
    return {"z_e": z_e, "z_q": z_q, "indices": indices, "out": out}


def reconstruction_nll(decoder_out, pixels):
    """-log p(x | z_q) in nats per image. [B]"""
    return vae_losses.reconstruction_nll(LIKELIHOOD, decoder_out, pixels)


def autoencoder_loss(model, ae_params, codebook, pixels, commitment_cost: float,
                     learn_codebook: bool):
    """(stage-1 loss averaged over the batch, aux with per-batch values and the
    forward pass); see the module docstring."""
    fwd = quantize_forward(model, ae_params, codebook, pixels)
    recon = reconstruction_nll(fwd["out"], pixels)                 # [B]
    commitment = quantizer.commitment_loss(fwd["z_e"], fwd["z_q"])  # [B]
    per_example = recon + commitment_cost * commitment
    if learn_codebook:
        per_example = per_example + quantizer.codebook_loss(fwd["z_e"], fwd["z_q"])
    aux = {"recon": jnp.mean(recon), "commitment": jnp.mean(commitment),
           "z_e": fwd["z_e"], "indices": fwd["indices"]}
    return jnp.mean(per_example), aux


def prior_nll(prior_model, prior_params, codes, dropout_key=None):
    """-log p(codes) in nats per grid under the autoregressive prior.
    codes int [B, h, w] -> [B]."""
    out = prior_model.apply(prior_params, codes, None, dropout_key)  # [B, h, w, K]
    return likelihoods.image_nll("softmax", out, codes)


def unigram_log_probs(code_usage):
    """log pi_k of the independent-codes prior fitted to the training usage
    frequencies [K] (summing to 1), smoothed so every code has mass. [K]"""
    num_codes = code_usage.shape[0]
    probs = (1.0 - UNIGRAM_SMOOTHING) * code_usage / jnp.sum(code_usage) \
        + UNIGRAM_SMOOTHING / num_codes
    return jnp.log(probs)


def unigram_nll(code_usage, codes):
    """-log p(codes) in nats per grid when codes are independent with the
    usage frequencies. codes int [B, h, w] -> [B]."""
    log_probs = unigram_log_probs(code_usage)
    return -jnp.sum(log_probs[codes], axis=(1, 2))


def sample_unigram(key, code_usage, num: int, grid_shape):
    """Independent codes from the smoothed usage frequencies. -> int [num, h, w]"""
    return jax.random.categorical(key, unigram_log_probs(code_usage),
                                  shape=(num,) + tuple(grid_shape)).astype(jnp.int32)
