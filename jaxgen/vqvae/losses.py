"""Pure objectives of the VQ-VAE's two stages, and its likelihood bound.

Stage 1 (autoencoder), per example:
    loss = -log p(x | z_q)  +  [||sg(z_e) - z_q||^2]  +  beta ||z_e - sg(z_q)||^2
with the bracketed codebook loss only when the codebook learns by gradient
(with EMA updates the codebook follows the encoder by averaging instead).
p(x | z_q) is a discretized logistic over the 256 values of every pixel and
channel of the unpadded image (jaxgen.nn.distributions), a probability of
8-bit images.

Stage 2 (prior): -log p(z_q(x)) of the frozen encoder's code grid under an
autoregressive model over K categories (jaxgen.autoregressive).

The likelihood bound. The generative model is p(x) = sum_z p(z) p(x | z) over
code grids z, which is a distribution over 8-bit images because both factors
are discrete. Every term of the sum is >= 0, so for any one grid, in
particular the encoder's z_q(x),
    log p(x) >= log p(z_q(x)) + log p(x | z_q(x)).
This is the ELBO with the point-mass posterior q(z | x) = 1[z = z_q(x)], whose
entropy is 0. Its negative is the `bound` likelihood of the shared `nll`
evaluation (bits/dim over the H x W x C unpadded pixel values): an upper bound
on the model's true NLL.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.nn import distributions
from jaxgen.nn.padding import crop_to, pad_to
from jaxgen.vqvae import quantizer

MIN_LOG_SCALE = -7.0  # the logistic's floor: scale >= ~1e-3 of the [0, 1] range
UNIGRAM_SMOOTHING = 1e-3  # share of probability spread uniformly over all codes


def unit_padded(pixels, padded_hw):
    """uint8 [B, H, W, C] -> float32 [B, H', W', C] in [0, 1], zero-padded."""
    return pad_to(pixels.astype(jnp.float32) / (distributions.NUM_PIXEL_VALUES - 1), padded_hw)


def quantize_forward(model, ae_params, codebook, pixels, padded_hw):
    """Encode, quantize and decode uint8 images [B, H, W, C] padded to padded_hw.

    Returns z_e, z_q [B, h, w, D], indices [B, h, w] and the decoder output
    [B, H', W', 2C]; the decoder reads z_q through the straight-through estimator.
    """
    z_e = model.apply(ae_params, unit_padded(pixels, padded_hw), method="encode")
    indices = quantizer.nearest_code(z_e, codebook)
    z_q = quantizer.lookup(codebook, indices)
    out = model.apply(ae_params, quantizer.straight_through(z_e, z_q), method="decode")
    return {"z_e": z_e, "z_q": z_q, "indices": indices, "out": out}


def logistic_parameters(decoder_out, image_shape):
    """(mean in [0, 1], log-scale), each [B, H, W, C], of the decoder's padded output
    [B, H', W', 2C] cropped to the image: means in the first C channels."""
    height, width, channels = image_shape
    out = crop_to(decoder_out, (height, width))
    mean = jax.nn.sigmoid(out[..., :channels])
    return mean, jnp.maximum(out[..., channels:2 * channels], MIN_LOG_SCALE)


def reconstruction_nll(decoder_out, pixels):
    """-log p(x | z_q) in nats per image: pixels uint8 [B, H, W, C] -> [B]."""
    mean, log_scale = logistic_parameters(decoder_out, pixels.shape[1:])
    log_probs = distributions.discretized_logistic_log_prob(pixels, mean, log_scale)
    return -jnp.sum(log_probs, axis=(1, 2, 3))


def decoder_mean(decoder_out, image_shape):
    """The logistic's mean image [B, H, W, C] in [0, 1] (what samples show)."""
    return logistic_parameters(decoder_out, image_shape)[0]


def autoencoder_loss(model, ae_params, codebook, pixels, padded_hw, commitment_cost: float,
                     learn_codebook: bool):
    """(stage-1 loss averaged over the batch, aux with per-batch values and the
    forward pass); see the module docstring."""
    fwd = quantize_forward(model, ae_params, codebook, pixels, padded_hw)
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
    logits = prior_model.apply(prior_params, codes, None, dropout_key)  # [B, h, w, K]
    return -jnp.sum(distributions.categorical_log_prob(logits, codes), axis=(1, 2))


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
