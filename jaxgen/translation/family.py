"""`pix2pix` and `cyclegan`: image-to-image translation, paired and unpaired.

pix2pix (Isola et al. 2017): edges2fashion (edge map -> garment, paired by
itself); U-Net G with dropout, PatchGAN D on (input, output) pairs;
non-saturating cGAN loss + l1_weight (100) * L1. Ablations are config keys:
`gan_weight=0` is L1 only, `l1_weight=0` cGAN only, `d_layers` 1 / 2 / 3 the
16 / 34 / 70 px patch, `d_output=image` one logit per image.

cyclegan (Zhu et al. 2017): Fashion-MNIST-M (a) <-> Fashion-MNIST (b), unpaired
(each side shuffled by its own key); two U-Nets, two PatchGANs, least-squares
GAN loss, cycle_weight 10, identity_weight (0 by default: the two domains
here have different channel counts), a history pool of 50 fakes per
discriminator, the learning rate constant then linearly to 0 over the
second half. `--config.source=paired --config.dataset=edges2fashion
--config.dataset_b=` trains it on edges2fashion, whose pairs its losses never read.

Both: optimizer blocks optim.g and optim.d (Adam 2e-4, b1 0.5).
"""
from __future__ import annotations

import functools

import ml_collections

from jaxgen import data
from jaxgen.engine import optim
from jaxgen.engine.config import base_config
from jaxgen.errors import ConfigError
from jaxgen.nn.adversarial import LOSSES
from jaxgen.registry import Family, register
from jaxgen.translation import cyclegan, evaluation, pictures, pix2pix, sampling
from jaxgen.translation.models import D_OUTPUTS, NORMS

TRANSLATOR_OPTIM = dict(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999)


def default_config(family: str) -> ml_collections.ConfigDict:
    c = base_config()
    c.family = family
    c.batch_size = 32
    c.steps = 3000
    c.g_channels = (32, 64, 128)   # U-Net: 32 -> 16 -> 8 -> 4 (28 is padded to 32)
    c.g_norm = "instance"
    c.d_channels = 32
    c.d_layers = 2                 # 1: 16 px patches, 2: 34 px, 3: 70 px
    c.d_output = "patch"           # or "image": one logit per image
    c.d_norm = "instance"
    c.optim = ml_collections.ConfigDict({n: optim.optim_config(**TRANSLATOR_OPTIM)
                                         for n in ("g", "d")})
    if family == "pix2pix":
        c.dataset = "edges2fashion"
        c.source = "paired"
        c.loss = "non_saturating"  # nn.adversarial.LOSSES
        c.gan_weight = 1.0         # 0: L1 only
        c.l1_weight = 100.0        # 0: cGAN only
        c.d_conditional = True     # D sees (input, output) pairs
        c.g_dropout_layers = 2     # innermost U-Net ups with dropout 0.5
        c.g_dropout = 0.5
        c.sample_dropout = True    # dropout on at test time too (the paper's noise)
    else:
        c.dataset = "fashion_mnist_m"
        c.dataset_b = "fashion_mnist"
        c.source = "unpaired"
        c.cycle_weight = 10.0
        c.identity_weight = 0.0    # the paper's 0.5 needs a and b with one channel count
        c.pool_size = 50
        c.g_dropout_layers = 0
        c.g_dropout = 0.0
    return c


def _check_keys(config) -> None:
    for key, choices in (("g_norm", NORMS), ("d_norm", NORMS), ("d_output", D_OUTPUTS)):
        if config[key] not in choices:
            raise ConfigError(f"config key {key!r} must be one of {choices}, got {config[key]!r}")
    if config.d_layers < 1 or config.d_channels < 1 or not len(config.g_channels):
        raise ConfigError("d_layers and d_channels must be >= 1 and g_channels non-empty")
    if not 0.0 <= config.g_dropout < 1.0 or config.g_dropout_layers < 0:
        raise ConfigError("g_dropout must be in [0, 1) and g_dropout_layers >= 0")
    for name in ("g", "d"):
        optim.validate(config.optim[name], f"optim.{name}")


def _check_data(config, sources) -> None:
    if config.source not in sources:
        raise ConfigError(f"{config.family} trains on a {' or '.join(sources)} source of "
                          f"two image domains; source is {config.source!r}")
    spec = data.spec(config)
    if "a" not in spec.fields or "b" not in spec.fields:
        raise ConfigError(f"{config.family} needs two image sides a and b; the data gives "
                          f"{sorted(spec.fields)}")
    (ha, wa, ca), (hb, wb, cb) = spec.fields["a"].shape, spec.fields["b"].shape
    if (ha, wa) != (hb, wb):
        raise ConfigError(f"{config.family} translates between images of one size: a is "
                          f"{ha}x{wa}, b is {hb}x{wb}")
    return ca, cb


def validate(config) -> None:
    _check_keys(config)
    if config.family == "pix2pix":
        _check_data(config, ("paired",))
        if config.loss not in LOSSES:
            raise ConfigError(f"config key 'loss' must be one of {LOSSES}, got {config.loss!r}")
        if config.gan_weight < 0 or config.l1_weight < 0 or not (config.gan_weight
                                                                  or config.l1_weight):
            raise ConfigError("gan_weight and l1_weight must be >= 0, not both 0")
        return
    ca, cb = _check_data(config, ("unpaired", "paired"))
    if config.cycle_weight < 0 or config.identity_weight < 0 or config.pool_size < 0:
        raise ConfigError("cycle_weight, identity_weight and pool_size must be >= 0")
    if config.identity_weight and ca != cb:
        raise ConfigError(f"identity_weight > 0 feeds b images to G: a -> b, which needs one "
                          f"channel count; a has {ca}, b has {cb}")


def init(steps_module, config, key, sample_batch):
    validate(config)
    return steps_module.init(config, key, sample_batch)


_STEPS = {"pix2pix": pix2pix, "cyclegan": cyclegan}
_DESCRIPTIONS = {
    "pix2pix": "Pix2Pix: paired translation (U-Net + PatchGAN, cGAN + L1), edges2fashion",
    "cyclegan": "CycleGAN: unpaired translation (two U-Nets, two PatchGANs, LSGAN, cycle "
                "loss, history pool), Fashion-MNIST-M <-> Fashion-MNIST",
}
_CPU_NOTES = {
    "pix2pix": "default 3000 steps of batch 32: see experiments/translation/",
    "cyclegan": "default 3000 steps of batch 32: see experiments/translation/",
}

for _name, _steps in _STEPS.items():
    register(Family(
        name=_name, description=_DESCRIPTIONS[_name],
        default_config=functools.partial(default_config, _name),
        init=functools.partial(init, _steps), train_step=_steps.train_step,
        sample=sampling.sample, eval_step=_steps.eval_step,
        evaluations={**evaluation.EVALUATIONS, "pictures": pictures.pictures_metric},
        pictures=pictures.pictures, network_evals=lambda config: 1,
        conditional=lambda config: True,  # cond: the images to translate
        cpu_note=_CPU_NOTES[_name],
        compute_dtypes=("float32", "bfloat16")))  # models.py threads it
