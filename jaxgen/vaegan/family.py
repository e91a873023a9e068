"""`vaegan`: the VAE-GAN of Larsen et al. 2016, its config, checks and registration.

A VAE (the `vae` family's encoder and decoder) whose reconstruction loss is a
Gaussian in the features of a discriminator's l-th layer, trained together
with that discriminator on real, reconstructed and prior-sampled images. The
three losses and their stop-gradients are in losses.py, the simultaneous
update of the three networks in steps.py. The model has no tractable
likelihood (its reconstruction term is a density of features, not of
pixels), so it declares none; the shared sample metrics (fid, kid, pr,
classes, sample_time) come from the evaluation runner.
"""
from __future__ import annotations

import ml_collections

from jaxgen import data
from jaxgen.engine import optim
from jaxgen.engine.config import base_config
from jaxgen.errors import ConfigError
from jaxgen.registry import Family, register
from jaxgen.vae.models import UPSAMPLE_CHOICES
from jaxgen.vaegan import losses, pictures, sampling, steps

CPU_NOTE = ("2-core CPU: experiments/vae/vaegan.py trains for a fixed wall time "
            "(~15 minutes); the default 6000 steps are sized for an accelerator")


def default_config():
    """Fashion-MNIST, latent 32, the VAE's widths, a 3-conv discriminator whose
    last conv (4x4x128 for 28x28 images) gives Dis_l. Adam(3e-4, b1 0.5) for each
    network: the paper used RMSProp at 3e-4; b1 0.5 is the DCGAN setting for
    adversarially trained networks."""
    c = base_config()
    c.family = "vaegan"
    c.batch_size = 64
    c.steps = 6000
    c.latent_dim = 32
    c.enc_channels = (32, 64, 128)
    c.dec_channels = (128, 64, 32)
    c.d_channels = (32, 64, 128)
    c.feature_layer = 3     # 1-based conv of D whose output is Dis_l(x)
    c.upsample = "fast"     # the decoder's layer form (jaxgen.vae.models)
    # gamma weights the decoder's feature reconstruction against fooling D
    # (L_llike sums over the 2048 features: ~2000 nats against ~5 for the GAN
    # terms). Measured in 900 s runs (experiments/results/vae.md): gamma 0.01,
    # which puts the two losses on one scale, left the decoder ignoring z
    # (every reconstruction the same blob, FID-FMNIST 453.8); gamma 1 gave
    # recognisable reconstructions and FID-FMNIST 374.5.
    c.gamma = 1.0
    c.g_loss = "non_saturating"  # or "minimax", the paper's log(1 - D) (losses.py)
    block = dict(learning_rate=3e-4, b1=0.5, b2=0.999)
    c.optim = ml_collections.ConfigDict({n: optim.optim_config(**block)
                                         for n in steps.NETWORKS})
    return c


def validate(config) -> None:
    data.require_kind(config, "vaegan", "images")
    if config.upsample not in UPSAMPLE_CHOICES:
        raise ConfigError(f"upsample must be one of {UPSAMPLE_CHOICES}, got {config.upsample!r}")
    if config.g_loss not in losses.G_LOSSES:
        raise ConfigError(f"g_loss must be one of {losses.G_LOSSES}, got {config.g_loss!r}")
    if config.latent_dim < 1:
        raise ConfigError(f"latent_dim must be >= 1, got {config.latent_dim}")
    for key in ("enc_channels", "dec_channels", "d_channels"):
        if len(config[key]) < 1 or min(config[key]) < 1:
            raise ConfigError(f"{key} must be one or more positive widths, got {config[key]}")
    if not 1 <= config.feature_layer <= len(config.d_channels):
        raise ConfigError(f"feature_layer must name one of the {len(config.d_channels)} convs "
                          f"of d_channels (1..{len(config.d_channels)}), got "
                          f"{config.feature_layer}")
    if not config.gamma >= 0:
        raise ConfigError(f"gamma must be >= 0, got {config.gamma}")
    for name in steps.NETWORKS:
        optim.validate(config.optim[name], f"optim.{name}")


def init(config, key, sample_batch):
    validate(config)
    return steps.init(config, key, sample_batch)


register(Family(name="vaegan",
                description="VAE-GAN (Larsen et al. 2016): VAE with a discriminator-feature "
                            "reconstruction loss and a GAN loss on reconstructions and samples",
                default_config=default_config, init=init, train_step=steps.train_step,
                sample=sampling.sample, eval_step=steps.eval_step,
                evaluations={"pictures": pictures.pictures_metric},
                pictures=pictures.pictures,
                network_evals=lambda config: 1,  # one decoder pass per sample
                cpu_note=CPU_NOTE))
