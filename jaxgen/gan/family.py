"""`gan`, `dcgan`, `wgan`, `wgan_gp` and `cgan`: one GAN implementation, five defaults.

The five families differ only in their default configs (architecture, loss,
critic constraint, optimizers: the VARIANTS table); every option is a config
key of all of them, so e.g. `jaxgen train gan --config.dataset=ring8
--config.pack=4` is PacGAN on the 2-D ring. The loss is `loss`
(losses.LOSSES); the default is "non_saturating" for the probabilistic GANs
(losses.py says why). Each network has its own optimizer block, `optim.g`
and `optim.d` (jaxgen.engine.optim).

This file is the face: configs, validation, the translation of old saved
configs, registration. The networks are in models.py, the objectives in
losses.py, the train step in steps.py, sampling in sampling.py.
"""
from __future__ import annotations

import dataclasses
import functools

import ml_collections

from jaxgen import data
from jaxgen.engine import optim
from jaxgen.engine.config import base_config, rename_keys
from jaxgen.errors import ConfigError
from jaxgen.gan import losses, pictures, sampling, steps
from jaxgen.gan.models import ACTIVATIONS
from jaxgen.registry import Family, register

ARCHS = ("mlp", "dcgan")
SAMPLE_FROM = ("raw", "ema")
EMA_BATCH_STATS = ("running", "recompute")


@dataclasses.dataclass(frozen=True)
class Variant:
    """One registered GAN: its description, the config values that differ from
    the MLP GAN's, and its optimizer values (the same for G and D)."""

    description: str
    values: dict = dataclasses.field(default_factory=dict)
    optim: dict = dataclasses.field(default_factory=dict)
    cpu_note: str = ""


# Adam(2e-4, b1 0.5) for both networks (Radford et al. 2016). rmsprop_decay
# 0.99 is PyTorch's RMSprop, what the WGAN code used; it only matters where
# a block's name is rmsprop.
GAN_OPTIM = dict(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999, rmsprop_decay=0.99)

VARIANTS = {
    "gan": Variant(
        "MLP GAN of the course (non-saturating loss by default; any loss, packing, "
        "unrolling, 2-D toy data)",
        cpu_note="default fits a 2-core CPU: 5.4 steps/s measured on the shared 2 cores "
                 "(load ~10); experiments/gan/gan_fmnist.py is sized to ~5 min idle"),
    "dcgan": Variant(
        "DCGAN: convolutional G with batch norm, LeakyReLU conv D",
        {"arch": "dcgan"},
        cpu_note="default 5000 steps: 0.86 steps/s measured on the shared 2 cores (load ~10); "
                 "use experiments/gan/dcgan_fmnist.py (3000 steps)"),
    "wgan": Variant(  # Arjovsky et al. 2017, Algorithm 1
        "Wasserstein GAN with weight clipping, 5 critic steps, RMSProp",
        {"arch": "dcgan", "loss": "wasserstein", "n_critic": 5, "clip_value": 0.01,
         "batch_size": 5 * 64},  # 64 real examples per critic update
        {"name": "rmsprop", "learning_rate": 5e-5},
        cpu_note="default 5000 steps: 0.35 steps/s measured on the shared 2 cores (load ~10); "
                 "use experiments/gan/wgan_fmnist.py (1000 steps)"),
    "wgan_gp": Variant(  # Gulrajani et al. 2017, Algorithm 1
        "Wasserstein GAN with gradient penalty, 5 critic steps, Adam(1e-4, 0.5, 0.9)",
        {"arch": "dcgan", "loss": "wasserstein", "n_critic": 5, "gp_weight": 10.0,
         "batch_size": 5 * 64},
        {"learning_rate": 1e-4, "b1": 0.5, "b2": 0.9},
        cpu_note="default 5000 steps: 0.26 steps/s measured on the shared 2 cores (load ~10); "
                 "use experiments/gan/wgan_gp_fmnist.py (1000 steps)"),
    "cgan": Variant(
        "class-conditional DCGAN (one-hot into G, projection discriminator)",
        {"arch": "dcgan", "conditional": True, "num_grid": 100},  # one row of 10 per class
        cpu_note="default 5000 steps: 0.71 steps/s measured on the shared 2 cores (load ~10); "
                 "use experiments/gan/cgan_fmnist.py (3000 steps)"),
}


# --------------------------------------------------------------------------- config


def default_config(family: str = "gan") -> ml_collections.ConfigDict:
    """The defaults of one GAN variant (VARIANTS[family]). On a 2-core CPU the
    MLP `gan` default trains in minutes; the convolutional ones run their
    experiments/gan/*_fmnist.py configs instead (each variant's cpu_note,
    shown by `jaxgen list`, names it)."""
    variant = VARIANTS[family]
    c = base_config()
    c.family = family
    c.batch_size = 64
    c.steps = 5000
    c.arch = "mlp"                 # "mlp" (course MLP GAN; 2-D lab) or "dcgan"
    c.latent_dim = 100
    c.g_hidden = (256, 512, 1024)  # mlp
    c.d_hidden = (1024, 512, 256)
    c.activation = "leaky_relu"
    c.d_dropout = 0.3
    c.g_channels = (128, 64, 32)   # dcgan: starts at size / 4 (28: 7, 14, 28; 32: 8, 16, 32)
    # dcgan: four stride-2 blocks, 28 -> 14 -> 7 -> 4 -> 2 ('SAME' padding rounds
    # 7 / 2 up), as Radford et al.'s D halves to 4x4 from 64x64. Runs saved with
    # the earlier two-block default (32, 64) keep it: config.json holds d_channels.
    c.d_channels = (32, 64, 128, 256)
    c.bn_momentum = 0.9
    c.loss = "non_saturating"      # one of losses.LOSSES
    c.n_critic = 1                 # discriminator updates per generator update
    c.clip_value = 0.0             # > 0: WGAN weight clipping of D to [-c, c]
    c.gp_weight = 0.0              # > 0: WGAN-GP gradient penalty weight
    c.r1_weight = 0.0              # gamma > 0: R1 penalty (gamma / 2) E_real ||grad D||^2
    c.d_spectral_norm = False      # spectral normalisation of D's weights (spectral.py)
    c.pack = 1                     # PacGAN: samples the discriminator judges together
    c.unroll_steps = 0             # unrolled GAN: D steps looked ahead by G
    c.conditional = False          # class label into G and D (projection)
    c.ema_decay = 0.0              # > 0: keep an EMA of G's weights
    c.sample_from = "raw"          # "raw" or "ema" generator weights for sampling
    c.ema_warmup = False           # EMA decay min(ema_decay, (1 + t) / (10 + t)) at step t
    # Batch-norm statistics the EMA generator samples with: "running" (the raw
    # generator's running averages) or "recompute" (its own, sampling.py says why).
    c.ema_batch_stats = "running"
    for key, value in variant.values.items():
        c[key] = value
    block = {**GAN_OPTIM, **variant.optim}
    c.optim = ml_collections.ConfigDict({name: optim.optim_config(**block)
                                         for name in steps.NETWORKS})
    return c


def upgrade_config(flat: dict, version: int) -> dict:
    """Version 1 (flat optimizer keys) -> optim.g / optim.d.

    The old code built, for each network, optax.adam(lr, b1=beta1, b2=beta2)
    or optax.rmsprop(lr, decay=0.99, eps=1e-8), with a cosine decay to 1% over
    lr_decay_steps train steps when lr_decay_steps > 0. Every value of those
    optimizers is written here, so a resumed old run keeps exactly its
    optimizer whatever today's defaults are (tests/test_gan_upgrade.py).
    """
    if version >= 2:
        return flat
    flat = rename_keys(flat, {"g_learning_rate": "optim.g.learning_rate",
                              "d_learning_rate": "optim.d.learning_rate"})
    shared = {"name": flat.pop("optimizer", "adam"), "b1": flat.pop("beta1", 0.5),
              "b2": flat.pop("beta2", 0.999), "eps": 1e-8, "eps_root": 0.0,
              "rmsprop_decay": 0.99, "weight_decay": 0.0, "warmup_steps": 0,
              "grad_clip_norm": 0.0}
    decay_steps = flat.pop("lr_decay_steps", 0)
    if decay_steps > 0:
        shared.update(schedule="cosine", decay_steps=decay_steps, final_lr_fraction=0.01)
    else:
        shared.update(schedule="constant", decay_steps=0, final_lr_fraction=0.0)
    for name in steps.NETWORKS:
        flat.update({f"optim.{name}.{key}": value for key, value in shared.items()})
    return flat


def _choice(config, key: str, choices) -> None:
    if config[key] not in choices:
        raise ConfigError(f"config key {key!r} must be one of {choices}, got {config[key]!r}")


def _at_least(config, key: str, low) -> None:
    if config[key] < low:
        raise ConfigError(f"config key {key!r} must be >= {low}, got {config[key]}")


def _validate_data(config) -> None:
    """Images (one "image" field) or 2-D points; DCGAN's upsampling must end at
    the image size; the conditional GAN needs every example's label."""
    data.require_kind(config, config.family, "images", "points")
    spec = data.spec(config)
    if spec.kind == "images" and "image" not in spec.fields:
        raise ConfigError(f"{config.family} trains on single images; source "
                          f"{config.source!r} gives {sorted(spec.fields)}")
    if config.arch == "dcgan":
        if spec.kind != "images":
            raise ConfigError(f"arch 'dcgan' needs an image dataset, got {config.dataset!r}; "
                              "use arch 'mlp' for 2-D points")
        doublings = len(config.g_channels) - 1
        height, width, _ = spec.image_shape
        if doublings < 0 or height % 2 ** doublings or width % 2 ** doublings:
            raise ConfigError(
                f"g_channels {tuple(config.g_channels)}: the generator starts at the image "
                f"size / 2 ** (len(g_channels) - 1) and doubles {max(doublings, 0)} times, "
                f"so {height}x{width} must be divisible by {2 ** max(doublings, 0)}; "
                "use fewer g_channels entries")
    if config.conditional:
        if spec.kind != "images" or config.pack > 1:
            raise ConfigError("conditional needs a labelled image dataset and pack = 1")
        data.require_labels(config, config.family)
        if config.source == "mixture":
            raise ConfigError("conditional needs every example's label; the mixture source "
                              "hides the target's")


def validate(config) -> None:
    _choice(config, "arch", ARCHS)
    _choice(config, "loss", losses.LOSSES)
    _choice(config, "sample_from", SAMPLE_FROM)
    _choice(config, "ema_batch_stats", EMA_BATCH_STATS)
    _choice(config, "activation", ACTIVATIONS)
    for key, low in (("n_critic", 1), ("pack", 1), ("unroll_steps", 0), ("latent_dim", 1),
                     ("clip_value", 0.0), ("gp_weight", 0.0), ("r1_weight", 0.0),
                     ("ema_decay", 0.0),
                     ("d_dropout", 0.0)):
        _at_least(config, key, low)
    for name in steps.NETWORKS:
        optim.validate(config.optim[name], f"optim.{name}")
    if config.ema_decay >= 1 or config.d_dropout >= 1:
        raise ConfigError("ema_decay and d_dropout must be < 1")
    if config.sample_from == "ema" and config.ema_decay == 0:
        raise ConfigError("sample_from='ema' needs ema_decay > 0 (no EMA is kept)")
    per_update = config.batch_size // config.n_critic
    if config.batch_size % config.n_critic or per_update % config.pack:
        raise ConfigError(f"batch_size ({config.batch_size}) must be a multiple of n_critic "
                          f"({config.n_critic}) times pack ({config.pack}): each critic "
                          "update takes batch_size / n_critic real examples in packs")
    _validate_data(config)


def init(config, key, sample_batch):
    """steps.init on a validated config."""
    validate(config)
    return steps.init(config, key, sample_batch)


# --------------------------------------------------------------------------- registry


def _register() -> None:
    for name, variant in VARIANTS.items():
        register(Family(name=name, description=variant.description,
                        default_config=functools.partial(default_config, name),
                        init=init, train_step=steps.train_step, sample=sampling.sample,
                        eval_step=steps.eval_step,
                        evaluations={"pictures": pictures.pictures_metric},
                        pictures=pictures.pictures,
                        network_evals=lambda config: 1,  # one generator pass per sample
                        upgrade_config=upgrade_config,
                        conditional=lambda config: bool(config.conditional),
                        cpu_note=variant.cpu_note,
                        compute_dtypes=("float32", "bfloat16")))  # models.py threads it


_register()
