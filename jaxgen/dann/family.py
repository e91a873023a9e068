"""`dann`: domain-adversarial neural network (Ganin et al. 2016).

Default task: Fashion-MNIST (source, labelled) -> Fashion-MNIST-M (target,
labels hidden in training), from the domain-labelled `mixture` source (half
of each batch from each domain; the grey source repeated to 3 channels).
The three rows of the paper's table are three configs of this one family:

    source only   --config.adapt=false      (the domain head still trains, on
                                             features it cannot move)
    DANN          the default
    oracle        --config.source=single --config.dataset=fashion_mnist_m
                  --config.dataset_b=''      (trained on the target's labels)

and `jaxgen eval` reports target_accuracy for each (evaluation.py).

Optimiser: the `optim` block (Adam 1e-3 by default: the engine's SGD has no
momentum, and Ganin et al.'s SGD with momentum 0.9 at 0.01 is not on offer),
its updates scaled by the paper's annealing 1 / (1 + 10 p) ** 0.75.
"""
from __future__ import annotations

import ml_collections

from jaxgen import data
from jaxgen.dann import evaluation, pictures, steps
from jaxgen.engine import optim
from jaxgen.engine.config import base_config
from jaxgen.errors import ConfigError
from jaxgen.registry import Family, register

CPU_NOTE = "default 3000 steps of batch 128 fit a shared 2-core CPU in minutes"


def default_config() -> ml_collections.ConfigDict:
    c = base_config()
    c.family = "dann"
    c.dataset = "fashion_mnist"
    c.source = "mixture"
    c.dataset_b = "fashion_mnist_m"
    c.batch_size = 128           # 64 source + 64 target
    c.steps = 3000
    c.feature_channels = (32, 48)
    c.kernel_size = 5
    c.label_hidden = (100, 100)
    c.domain_hidden = (100,)
    c.adapt = True               # False: the "source only" row (lambda = 0)
    c.lambda_schedule = True     # lambda_p = lambda_max (2 / (1 + exp(-10 p)) - 1)
    c.lambda_max = 1.0
    c.domain_weight = 1.0
    c.anneal_lr = True           # learning rate x 1 / (1 + 10 p) ** 0.75
    c.optim = optim.optim_config(name="adam", learning_rate=1e-3)
    return c


def validate(config) -> None:
    data.require_kind(config, "dann", "images")
    data.require_labels(config, "dann")
    if config.source not in ("mixture", "single"):
        raise ConfigError(f"dann trains on a mixture (labelled source, unlabelled target) "
                          f"or on one labelled dataset (the oracle); source is "
                          f"{config.source!r}")
    if not len(config.feature_channels) or config.kernel_size < 1:
        raise ConfigError("dann needs feature_channels (one or more) and kernel_size >= 1")
    side = data.image_shape(config)[0]
    for _ in config.feature_channels:
        side = (side - config.kernel_size + 1) // 2
    if side < 1:
        raise ConfigError(f"feature_channels {tuple(config.feature_channels)} with kernel "
                          f"{config.kernel_size} shrink {data.image_shape(config)[0]}-pixel "
                          "images to nothing; use fewer layers or a smaller kernel")
    for key in ("lambda_max", "domain_weight"):
        if config[key] < 0:
            raise ConfigError(f"config key {key!r} must be >= 0, got {config[key]}")
    optim.validate(config.optim, "optim")


def init(config, key, sample_batch):
    validate(config)
    return steps.init(config, key, sample_batch)


register(Family(
    name="dann",
    description="domain-adversarial network: gradient reversal, Fashion-MNIST -> "
                "Fashion-MNIST-M. Does not sample",
    default_config=default_config, init=init, train_step=steps.train_step, sample=None,
    eval_step=steps.eval_step,
    evaluations={**evaluation.EVALUATIONS, "pictures": pictures.pictures_metric},
    pictures=pictures.pictures, cpu_note=CPU_NOTE,
    compute_dtypes=("float32", "bfloat16")))  # models.py threads it
