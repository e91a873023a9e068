"""The three VAE-GAN objectives (Larsen et al. 2016, Algorithm 1) and their detach rules.

With x a real batch, z ~ q(z | x) = Enc(x), x~ = Dec(z), z_p ~ N(0, I) and
x_p = Dec(z_p):

    L_prior  = KL(q(z | x) || N(0, I))
    L_llike  = -log N(Dis_l(x); Dis_l(x~), I)    Gaussian in D's l-th layer features
    L_GAN    = log D(x) + log(1 - D(x~)) + log(1 - D(x_p))

    encoder        minimises  L_prior + L_llike                 (gradient in theta_Enc only)
    decoder        minimises  gamma * L_llike - L_GAN            (gradient in theta_Dec only)
    discriminator  minimises  -L_GAN                             (gradient in theta_Dis only)

The paper writes each update as the gradient of that network's loss with
respect to that network's parameters. Here the three losses are summed and
differentiated once with respect to all parameters, so each "only" above is a
`jax.lax.stop_gradient` in the code below, one per path that would otherwise
leak a loss into another network (tests/test_vaegan.py checks every one by
taking each loss's gradient with respect to every network):

  1. the discriminator's loss reads x~ and x_p detached: it does not move
     the decoder (nor, through z, the encoder);
  2. the encoder's L_llike reads the decoder's and the discriminator's
     parameters detached: it moves neither (the features Dis_l(x) of the
     real target are detached too: only theta_Dis could move them);
  3. the decoder's loss reads z detached: gamma * L_llike and the GAN term
     on x~ do not move the encoder; it reads the discriminator's
     parameters detached, so "fooling D" does not train D.

The decoder's GAN term: -L_GAN as a function of theta_Dec is the minimax
form log(1 - D(x~)) + log(1 - D(x_p)); `g_loss` "non_saturating" (the
default) uses -log D(x~) - log D(x_p) instead, with the same fixed point and
a gradient that does not vanish while D wins (jaxgen.nn.adversarial says
why); "minimax" is the paper's formula. Both GAN terms, on reconstructions
and on prior samples, have weight 1 as in L_GAN; each is a batch mean, as is
every other term (L_prior and L_llike are nats per example, summed over
latent and feature dimensions, then averaged over the batch).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.nn import adversarial, distributions
from jaxgen.vaegan import models

G_LOSSES = ("non_saturating", "minimax")


def feature_nll(real_features, recon_features):
    """-log N(Dis_l(x); Dis_l(x~), I) per example: the Gaussian observation model
    with identity covariance in feature space, constant included. [B, F] x2 -> [B]"""
    return -distributions.diag_gaussian_log_prob(real_features, recon_features, 0.0)


def discriminator_bce(real_logits, recon_logits, prior_logits):
    """-L_GAN: -log D(x) - log(1 - D(x~)) - log(1 - D(x_p)), each a batch mean.

    nn.adversarial's discriminator_loss is the first two terms; the third is
    the same binary cross-entropy (target 0) on the prior samples.
    """
    real_vs_recon = adversarial.discriminator_loss("minimax", real_logits, recon_logits)
    return real_vs_recon + jnp.mean(jax.nn.softplus(prior_logits))  # -log(1 - sigmoid(l))


def forward(config, params, pixels, key):
    """The shared quantities of one step: {"x", "mean", "log_var", "z", "z_prior"}.
    pixels uint8 [B, H, W, C]; key draws the posterior noise and the prior latents."""
    k_eps, k_prior = jax.random.split(key)
    x = models.network_input(config, pixels)                   # [B, H', W', C]
    mean, log_var = models.encode(config, params["enc"], x)    # [B, D] each
    z = distributions.reparameterize(k_eps, mean, log_var)     # [B, D]
    z_prior = jax.random.normal(k_prior, z.shape)              # [B, D]
    return {"image": pixels.astype(jnp.float32) / 255.0, "mean": mean, "log_var": log_var,
            "z": z, "z_prior": z_prior}


def vaegan_losses(config, params, pixels, key):
    """({"enc", "dec", "dis"}: each network's loss, metrics); params {"enc", "dec", "dis"}.

    Differentiating the sum of the three losses with respect to all parameters
    gives each network exactly its own update rule (the module docstring lists
    the stop-gradients that make it so). The discriminator runs twice on one
    stacked batch each (its live parameters on [x, x~, x_p], its detached ones
    on the generated images of the encoder's and the decoder's losses): the
    stop-gradients act on each part before stacking, and D is per-example.
    """
    sg = jax.lax.stop_gradient
    f = forward(config, params, pixels, key)
    real = f["image"]                                              # [B, H, W, C] in [0, 1]
    b = real.shape[0]

    # The generated images.
    # Rule 2: the encoder's reconstruction reads the decoder's parameters detached,
    # so its L_llike reaches theta_Enc through z alone.
    recon_for_enc = models.decode(config, sg(params["dec"]), f["z"])          # [B, H, W, C]
    # Rule 3: the decoder's reconstruction reads z detached, so neither decoder
    # term reaches the encoder. Reconstructions and prior samples: one pass.
    generated = models.decode(config, params["dec"],
                              jnp.concatenate([sg(f["z"]), f["z_prior"]]))  # [2B, H, W, C]
    recon, prior_images = generated[:b], generated[b:]

    # Discriminator with its live parameters on [x, x~, x_p].
    # Rule 1: the generated images are detached, so -L_GAN moves theta_Dis only.
    logits_d, features_d = models.discriminate(
        config, params["dis"], jnp.concatenate([real, sg(generated)]))       # [3B], [3B, F]
    real_logits, recon_logits_d, prior_logits_d = jnp.split(logits_d, 3)
    # Rule 2: the target Dis_l(x) is a constant for the encoder and the decoder.
    target = sg(features_d[:b])                                               # [B, F]
    # Discriminator with detached parameters on what the encoder's and the
    # decoder's losses judge: fooling D, or matching its features, trains neither D.
    logits_g, features_g = models.discriminate(
        config, sg(params["dis"]), jnp.concatenate([recon_for_enc, generated]))
    enc_features, recon_features = features_g[:b], features_g[b:2 * b]
    recon_logits_g, prior_logits_g = logits_g[b:2 * b], logits_g[2 * b:]

    # Encoder: L_prior + L_llike.
    kl = distributions.diag_gaussian_kl(f["mean"], f["log_var"])  # [B]
    enc_loss = jnp.mean(kl + feature_nll(target, enc_features))

    # Decoder: gamma * L_llike - L_GAN (as g_loss; both GAN terms weight 1).
    llike_dec = jnp.mean(feature_nll(target, recon_features))
    gan_dec = (adversarial.generator_loss(config.g_loss, recon_logits_g)
               + adversarial.generator_loss(config.g_loss, prior_logits_g))
    dec_loss = config.gamma * llike_dec + gan_dec

    # Discriminator: -L_GAN on real, reconstructed and prior-sampled images.
    dis_loss = discriminator_bce(real_logits, recon_logits_d, prior_logits_d)

    metrics = {"enc_loss": enc_loss, "dec_loss": dec_loss, "dis_loss": dis_loss,
               "kl": jnp.mean(kl), "feature_nll": llike_dec, "gan_dec": gan_dec,
               "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
               "d_recon": jnp.mean(jax.nn.sigmoid(recon_logits_d)),
               "d_prior": jnp.mean(jax.nn.sigmoid(prior_logits_d)),
               "pixel_mse": jnp.mean((sg(recon) - real) ** 2)}
    return {"enc": enc_loss, "dec": dec_loss, "dis": dis_loss}, metrics


def total_loss(config, params, pixels, key):
    """(enc + dec + dis losses, metrics): the one scalar train_step differentiates."""
    losses, metrics = vaegan_losses(config, params, pixels, key)
    return losses["enc"] + losses["dec"] + losses["dis"], metrics
