"""`classifier` family: image classifiers (MLP, CNN) trained by the engine.

A classifier models p(y | x), not p(x): it registers no `sample` and no
likelihood. It is here for two reasons: the course's supervised baseline
(MLP vs CNN test accuracy), and the CNN is the feature extractor of every
image metric (`jaxgen.metrics`, DESIGN.md "Metrics"), rebuilt by
`python -m jaxgen.build_extractor`. Its networks live in
jaxgen/nn/classifier.py, so the metrics read them without importing a family.

Any labelled image dataset: the shapes and the class count come from the
dataset's spec. Objective: mean softmax cross-entropy (losses.py), AdamW with
a cosine learning-rate decay. The step key is split into a dropout key and an
augmentation key (random horizontal flips), both explicit arguments of the loss.
"""
from __future__ import annotations

from jaxgen import data
from jaxgen.classifier import evaluation, steps
from jaxgen.engine import optim
from jaxgen.engine.config import base_config, rename_keys
from jaxgen.errors import ConfigError
from jaxgen.nn.classifier import MODELS
from jaxgen.registry import Family, register

# Measured with `jaxgen bench classifier --steps 10`, niced, on the shared
# 2-core CPU at load average ~14: 123 examples/s (batch 128).
CPU_NOTE = ("default (the extractor's 10-epoch recipe, experiments/classifier/cnn.py): "
            "0.96 steps/s on a shared 2-core CPU, ~80 min; --config.steps=469 for one epoch")


def default_config():
    """The CNN extractor's recipe: ~80 min on a shared 2-core CPU (CPU_NOTE)."""
    c = base_config()
    c.family = "classifier"
    c.model = "cnn"              # "mlp" | "cnn"
    c.batch_size = 128
    c.steps = 4690               # 10 epochs of 469 batches
    # AdamW (decoupled weight decay), cosine decay from the peak to 0 over
    # decay_steps (0: the run's `steps`).
    c.optim = optim.optim_config(name="adamw", learning_rate=2e-3, weight_decay=1e-4,
                                 schedule="cosine", decay_steps=0, final_lr_fraction=0.0)
    c.dropout = 0.3
    c.hflip = True               # random horizontal flips (clothes stay clothes)
    c.mlp_hidden = (512, 256)
    c.cnn_channels = (32, 64, 128)
    c.feature_dim = 128          # CNN penultimate width: the metrics' feature space
    c.eval_batches = 20
    return c


def validate(config) -> None:
    data.require_kind(config, "classifier", "images")
    data.require_labels(config, "classifier")
    if config.model not in MODELS:
        raise ConfigError(f"model must be one of {MODELS}, got {config.model!r}")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {config.dropout}")
    if config.model == "cnn":
        # A 2x2 max-pool after every convolution but the last.
        pools = len(config.cnn_channels) - 1
        h, w, _ = data.image_shape(config)
        if h % 2 ** pools or w % 2 ** pools:
            raise ConfigError(
                f"the CNN's {pools} 2x2 max-pools need height and width divisible by "
                f"{2 ** pools}; {config.dataset!r} images are {h}x{w} (use fewer "
                "cnn_channels, or model=mlp)")
    optim.validate(config.optim, "optim")


def init(config, key, sample_batch):
    validate(config)
    return steps.init(config, key, sample_batch)


def upgrade_config(flat: dict, version: int) -> dict:
    """Keys of configs saved by an older jaxgen (engine.config.complete)."""
    if version < 2:  # the optimizer keys moved into `optim` (AdamW, cosine to 0)
        flat = rename_keys(flat, {"learning_rate": "optim.learning_rate",
                                  "decay_steps": "optim.decay_steps",
                                  "weight_decay": "optim.weight_decay"})
    return flat


def _register():
    register(Family(
        name="classifier",
        description="image classifier (MLP or CNN); the Fashion-MNIST CNN is the feature "
                    "extractor of FID/KID/IS/PR-FMNIST. Does not sample",
        default_config=default_config, init=init, train_step=steps.train_step,
        sample=None, eval_step=steps.eval_step, evaluations=evaluation.EVALUATIONS,
        upgrade_config=upgrade_config, cpu_note=CPU_NOTE))


_register()
