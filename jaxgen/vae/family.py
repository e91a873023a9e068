"""`autoencoder` and `vae` families: glue between the models, the losses and the engine.

Both share one network definition (models.AutoEncoder); `vae` adds the
Gaussian posterior, the KL term and the reparameterization. The conditional
VAE is `vae` with `conditional=True` (the class label goes into both networks).

VAE objective (per example, averaged over the batch):
    loss = recon_weight * E_q[-log p(x | z)] + KL(q(z | x) || N(0, I))
recon_weight = 1 is the ELBO; recon_weight = 1/beta is the beta-VAE weighting
(beta > 1 pushes towards the prior, beta < 1 towards sharper reconstructions).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxgen import data
from jaxgen.engine.config import base_config
from jaxgen.engine.state import TrainState, apply_gradients
from jaxgen.errors import ConfigError
from jaxgen.registry import Family, register
from jaxgen.vae import losses
from jaxgen.vae.models import UPSAMPLE_CHOICES, AutoEncoder

LIKELIHOODS = ("bernoulli", "logistic")


def default_config(family: str = "vae"):
    c = base_config()
    c.family = family
    c.batch_size = 100
    c.steps = 6000             # 10 epochs of 600 batches
    c.learning_rate = 1e-3     # Adam
    c.latent_dim = 2
    c.enc_channels = (32, 64, 128)
    c.dec_channels = (128, 64, 32)
    c.upsample = "fast"        # or "subpixel", "transpose": the same function, slower on CPU
    c.conditional = False      # class label into encoder and decoder
    # "bernoulli": the course's binary cross-entropy on grey levels;
    # "logistic": a discretized logistic over the 256 pixel values, a true
    # likelihood of 8-bit images, comparable in bits/dim with flows and PixelCNN.
    c.likelihood = "bernoulli"
    if family == "vae":
        c.recon_weight = 1.0   # 1 = ELBO; 1/beta = beta-VAE
        c.iwae_samples = 100   # K of the importance-weighted bound in `jaxgen eval`
    else:
        c.latent_stats_decay = 0.99  # EMA of the latent mean/variance, used to sample
    return c


def is_variational(config) -> bool:
    return config.family == "vae"


def validate(config) -> None:
    data.require_image_dataset(config)
    if config.likelihood not in LIKELIHOODS:
        raise ConfigError(f"likelihood must be one of {LIKELIHOODS}, got {config.likelihood!r}")
    if config.upsample not in UPSAMPLE_CHOICES:
        raise ConfigError(f"upsample must be one of {UPSAMPLE_CHOICES}, got {config.upsample!r}")
    if config.latent_dim < 1:
        raise ConfigError(f"latent_dim must be >= 1, got {config.latent_dim}")


def make_model(config) -> AutoEncoder:
    return AutoEncoder(latent_dim=config.latent_dim, enc_channels=tuple(config.enc_channels),
                       dec_channels=tuple(config.dec_channels),
                       out_channels=losses.output_channels(config.likelihood),
                       variational=is_variational(config), upsample=config.upsample)


def make_optimizer(config):
    return optax.adam(config.learning_rate)


def class_onehot(config, labels):
    """One-hot labels [B, K] for a conditional model, None otherwise."""
    if not config.conditional:
        return None
    return jax.nn.one_hot(labels, data.num_classes(config))


def encode(config, params, pixels, labels=None):
    """uint8 images [B, 28, 28, 1] -> (mean, log_var) for a VAE, z for an autoencoder."""
    return make_model(config).apply(params, losses.to_unit_padded(pixels),
                                    class_onehot(config, labels), method="encode")


def decode(config, params, z, labels=None):
    """Latents [B, D] -> decoder output [B, 32, 32, C] (logits / distribution parameters)."""
    return make_model(config).apply(params, z, class_onehot(config, labels), method="decode")


def decode_mean(config, params, z, labels=None):
    """Latents [B, D] -> mean images [B, 28, 28, 1] in [0, 1]."""
    return losses.decoder_mean(decode(config, params, z, labels))


def init(config, key, sample_batch) -> TrainState:
    validate(config)
    model = make_model(config)
    x = losses.to_unit_padded(sample_batch["image"])
    params = model.init(key, x, class_onehot(config, sample_batch["label"]))
    extra = None
    if not is_variational(config):
        extra = {"latent_mean": jnp.zeros(config.latent_dim),
                 "latent_var": jnp.ones(config.latent_dim)}
    return TrainState.create(params, make_optimizer(config).init(params), extra=extra)


def vae_loss(config, params, batch, key):
    """(recon_weight * recon + KL averaged over the batch, metrics); `key` draws eps."""
    mean, log_var = encode(config, params, batch["image"], batch["label"])
    z = losses.reparameterize(key, mean, log_var)
    recon = losses.reconstruction_nll(config.likelihood,
                                      decode(config, params, z, batch["label"]), batch["image"])
    kl = jnp.sum(losses.gaussian_kl_per_dim(mean, log_var), axis=-1)  # [B]
    loss = jnp.mean(config.recon_weight * recon + kl)
    return loss, {"recon": jnp.mean(recon), "kl": jnp.mean(kl), "elbo": -jnp.mean(recon + kl)}


def autoencoder_loss(config, params, batch, key):
    """(mean reconstruction NLL, metrics with the batch's latents); deterministic."""
    del key
    z = encode(config, params, batch["image"], batch["label"])
    recon = losses.reconstruction_nll(config.likelihood,
                                      decode(config, params, z, batch["label"]), batch["image"])
    loss = jnp.mean(recon)
    return loss, {"recon": loss, "z": z}


def train_step(config, state, batch, key):
    loss_fn = vae_loss if is_variational(config) else autoencoder_loss
    (loss, aux), grads = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)(
        config, state.params, batch, key)
    state = apply_gradients(state, grads, make_optimizer(config))
    if not is_variational(config):
        state = state.replace(extra=_update_latent_stats(config, state.extra, aux.pop("z")))
    return state, {"loss": loss, **aux}


def _update_latent_stats(config, stats, z):
    """EMA of the training latents' mean and variance: the autoencoder has no
    prior, so it samples from a Gaussian fitted to the codes it produces."""
    z = jax.lax.stop_gradient(z)
    decay = config.latent_stats_decay
    return {"latent_mean": decay * stats["latent_mean"] + (1 - decay) * jnp.mean(z, 0),
            "latent_var": decay * stats["latent_var"] + (1 - decay) * jnp.var(z, 0)}


def eval_step(config, state, batch, key):
    loss_fn = vae_loss if is_variational(config) else autoencoder_loss
    loss, aux = loss_fn(config, state.params, batch, key)
    aux.pop("z", None)
    return {"loss": loss, **aux}


def sample_labels(config, num: int, cond=None):
    """Class labels for conditional sampling: `cond`, or 0..K-1 repeated."""
    if not config.conditional:
        return None
    if cond is None:
        return jnp.arange(num) % data.num_classes(config)
    return jnp.broadcast_to(jnp.asarray(cond, jnp.int32), (num,))


def sample(config, state, key, num: int, cond=None):
    """Decoded means of latents drawn from the prior (VAE) or from the fitted
    Gaussian of training codes (autoencoder). [num, 28, 28, 1] in [0, 1]."""
    eps = jax.random.normal(key, (num, config.latent_dim))
    if is_variational(config):
        z = eps
    else:
        z = state.extra["latent_mean"] + jnp.sqrt(state.extra["latent_var"]) * eps
    return decode_mean(config, state.params, z, sample_labels(config, num, cond))


def log_likelihood(config, state, batch, key):
    """IWAE lower bound on log p(x) with `iwae_samples` samples, nats per example. [B]"""
    mean, log_var = encode(config, state.params, batch["image"], batch["label"])

    def log_joint(z):
        out = decode(config, state.params, z, batch["label"])
        return (-losses.reconstruction_nll(config.likelihood, out, batch["image"])
                + losses.standard_normal_log_prob(z))

    return losses.iwae_log_likelihood(log_joint, mean, log_var, key, config.iwae_samples)


def _register():
    from jaxgen.vae import evaluation
    common = dict(init=init, train_step=train_step, sample=sample, eval_step=eval_step,
                  pictures=evaluation.pictures)
    register(Family(name="autoencoder",
                    description="convolutional autoencoder (deterministic code; samples from "
                                "a Gaussian fitted to the training codes)",
                    default_config=lambda: default_config("autoencoder"),
                    evaluations=evaluation.AUTOENCODER_EVALUATIONS, **common))
    register(Family(name="vae",
                    description="variational autoencoder (beta-VAE weighting, optional class "
                                "conditioning, IWAE likelihood bound)",
                    default_config=lambda: default_config("vae"), log_likelihood=log_likelihood,
                    evaluations=evaluation.VAE_EVALUATIONS, **common))


_register()
