"""`autoencoder` and `vae` families: their configs, their checks, and registration.

Both share one network definition (models.AutoEncoder); `vae` adds the
Gaussian posterior, the KL term and the reparameterization. The conditional
VAE is `vae` with `conditional=True` (the class label goes into both networks).
The objectives are in losses.py, the steps in steps.py, sampling in
sampling.py, the family's own evaluations in evaluation.py and pictures.py.

What the likelihood is (likelihood_kind): with the discretized-logistic
decoder the VAE's log_likelihood is the IWAE lower bound on log p(x) of 8-bit
images ("bound"); with the course's Bernoulli cross-entropy on grey levels it
is no probability of the images, so the run has none (its nats are in the
`elbo` evaluation). The autoencoder has no likelihood.
"""
from __future__ import annotations

from jaxgen import data
from jaxgen.engine import optim
from jaxgen.engine.config import base_config, rename_keys
from jaxgen.errors import ConfigError
from jaxgen.registry import Family, register
from jaxgen.vae import evaluation, models, sampling, steps
from jaxgen.vae.models import UPSAMPLE_CHOICES

# The encode / decode API latent diffusion runs on a trained VAE (jaxgen.diffusion.latent).

LIKELIHOODS = ("bernoulli", "logistic")
# Measured: the median over 40-100 calls of the engine's jitted train step on
# the shared 2-core CPU (load average 7-10), 0.65-0.76 s per default `vae`
# step and 0.85 s per `autoencoder` step (batch 100, 28x28).
CPU_NOTES = {
    "vae": "2-core CPU: ~0.7 s/step, so the default 6000 steps take ~70 min; "
           "experiments/vae/cvae_latent2.py (3000 steps) takes half",
    "autoencoder": "2-core CPU: ~0.85 s/step, so the default 6000 steps take ~85 min; "
                   "experiments/vae/autoencoder_latent2.py trains 3000",
}


def default_config(family: str = "vae"):
    """Fashion-MNIST, 2-D latent, Bernoulli decoder, 6000 steps (10 epochs).

    On a shared 2-core CPU a default step took ~0.7 s (vae) / ~0.85 s
    (autoencoder), so the 6000 steps take 70-85 minutes; the 3000-step
    experiments/vae/autoencoder_latent2.py and cvae_latent2.py take half
    (experiments/vae/vae_latent2.py is this config).
    """
    c = base_config()
    c.family = family
    c.batch_size = 100
    c.steps = 6000             # 10 epochs of 600 batches
    c.optim = optim.optim_config(learning_rate=1e-3)  # Adam
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
        c.iwae_samples = 100   # K of the importance-weighted bound (`jaxgen eval --metrics nll`)
        c.iwae_chunk_size = 10  # samples decoded together: memory grows with this, not with K
    else:
        c.latent_stats_decay = 0.99  # EMA of the latent mean/variance, used to sample
    return c


def validate(config) -> None:
    data.require_kind(config, config.family, "images")
    if config.likelihood not in LIKELIHOODS:
        raise ConfigError(f"likelihood must be one of {LIKELIHOODS}, got {config.likelihood!r}")
    if config.upsample not in UPSAMPLE_CHOICES:
        raise ConfigError(f"upsample must be one of {UPSAMPLE_CHOICES}, got {config.upsample!r}")
    if config.latent_dim < 1:
        raise ConfigError(f"latent_dim must be >= 1, got {config.latent_dim}")
    for key in ("enc_channels", "dec_channels"):
        if len(config[key]) < 1 or min(config[key]) < 1:
            raise ConfigError(f"{key} must be one or more positive widths, got {config[key]}")
    if config.conditional:
        data.require_labels(config, f"a conditional {config.family}")
    optim.validate(config.optim, "optim")
    if models.is_variational(config):
        if config.iwae_samples < 1 or config.iwae_chunk_size < 1:
            raise ConfigError("iwae_samples and iwae_chunk_size must be >= 1, got "
                              f"{config.iwae_samples} and {config.iwae_chunk_size}")
    elif not 0.0 <= config.latent_stats_decay < 1.0:
        raise ConfigError(f"latent_stats_decay must be in [0, 1), got "
                          f"{config.latent_stats_decay}")


def init(config, key, sample_batch):
    validate(config)
    return steps.init(config, key, sample_batch)


def likelihood_kind(config):
    """The IWAE bound of the discretized logistic is a bound on log p(x) of 8-bit
    images; the Bernoulli cross-entropy on grey levels is not a likelihood."""
    return "bound" if config.likelihood == "logistic" else None


def upgrade_config(flat: dict, version: int) -> dict:
    """Keys of configs saved by an older jaxgen (engine.config.complete)."""
    if version < 2:  # the optimizer became the `optim` block (engine.optim)
        flat = rename_keys(flat, {"learning_rate": "optim.learning_rate"})
    return flat


def _register():
    common = dict(init=init, train_step=steps.train_step, sample=sampling.sample,
                  eval_step=steps.eval_step, pictures=evaluation.pictures,
                  network_evals=lambda config: 1,  # one decoder pass per sample
                  upgrade_config=upgrade_config,
                  conditional=lambda config: config.conditional,
                  compute_dtypes=("float32", "bfloat16"))  # models.py threads it
    register(Family(name="autoencoder",
                    description="convolutional autoencoder (deterministic code; samples from "
                                "a Gaussian fitted to the training codes)",
                    default_config=lambda: default_config("autoencoder"),
                    evaluations=evaluation.AUTOENCODER_EVALUATIONS,
                    cpu_note=CPU_NOTES["autoencoder"], **common))
    register(Family(name="vae",
                    description="variational autoencoder (beta-VAE weighting, optional class "
                                "conditioning, IWAE likelihood bound)",
                    default_config=lambda: default_config("vae"),
                    log_likelihood=steps.log_likelihood, likelihood_kind=likelihood_kind,
                    evaluations=evaluation.VAE_EVALUATIONS, cpu_note=CPU_NOTES["vae"],
                    **common))


_register()
