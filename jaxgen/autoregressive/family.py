"""`pixelcnn` and `pixelrnn` families: exact likelihoods of 8-bit images.

One family group, two families sharing everything but the network:

- `pixelcnn`: architecture "plain" (PixelCNN: masked convs, residual blocks,
  has the blind spot), "gated" (Gated PixelCNN: vertical/horizontal stacks,
  no blind spot, optional class conditioning) or "pixelcnn_pp" (PixelCNN++:
  down / down-right streams of gated residual blocks in a U-Net with
  shortcuts, pixelcnn_pp.py; naive sampler only). The other PixelCNN++
  elements are options of all three: head "logistic_mixture" (discretized
  logistic mixture instead of the 256-way softmax) and dropout with explicit
  keys.
- `pixelrnn`: recurrent layers after a mask-A convolution, rnn "row" (Row
  LSTM: triangular receptive field, cached sampler) or "diagonal" (Diagonal
  BiLSTM: the whole causal context but the previous row's last pixel; naive
  sampler only), pixelrnn.py.

The training objective is the exact negative log-likelihood of the uint8
image in nats (losses.py); bits/dim divides it by H * W * C ln 2. Images of
any shape H x W x C: colour is modelled one channel value at a time, raster
order over (row, column, channel) (losses.py, "Channels"). Sampling runs
that raster in one jitted loop, "naive" (a full forward per value) or
"cached" (sampling.py).

Files: models.py / layers.py / pixelcnn_pp.py / pixelrnn.py (networks),
likelihoods.py (output heads), losses.py, steps.py, sampling.py,
evaluation.py (the naive-vs-cached sampler speed-up).
"""
from __future__ import annotations

from jaxgen import data
from jaxgen.autoregressive import evaluation, likelihoods, sampling, steps
from jaxgen.autoregressive.models import ARCHITECTURES, RNNS, network_class
from jaxgen.engine import optim
from jaxgen.engine.config import base_config, rename_keys
from jaxgen.errors import ConfigError
from jaxgen.registry import Family, register

# Measured with `jaxgen bench FAMILY --steps 10`, niced, on the shared 2-core
# CPU at load average 10-15: pixelcnn 8.2, pixelrnn 11.3 examples/s (batch 32).
CPU_NOTES = {
    "pixelcnn": "default: 0.26 steps/s on a shared 2-core CPU (hours for its 3000 steps); "
                "use experiments/autoregressive/plain_pixelcnn.py (500 steps of 16)",
    "pixelrnn": "default: 0.35 steps/s on a shared 2-core CPU (hours for its 3000 steps); "
                "use experiments/autoregressive/pixelrnn.py (500 steps of 16)",
}


def default_config(family: str = "pixelcnn"):
    """Defaults of `pixelcnn` (or `pixelrnn`). Slow on a 2-core CPU (CPU_NOTES):
    experiments/autoregressive/plain_pixelcnn.py and pixelrnn.py suit one."""
    c = base_config()
    c.family = family
    c.batch_size = 32
    c.steps = 3000
    # Adam; grad_clip_norm bounds the global norm of the nats-per-image gradient.
    # schedule "cosine" decays to final_lr_fraction (10%) over decay_steps (0: steps).
    c.optim = optim.optim_config(learning_rate=1e-3, grad_clip_norm=500.0,
                                 final_lr_fraction=0.1)
    c.hidden_channels = 32
    c.num_layers = 6
    c.kernel_size = 3           # the masked layers after the first (width in channel values)
    c.first_kernel_size = 7     # the mask-A first layer
    c.head = "logistic_mixture"  # or "softmax" (256-way)
    c.num_mixtures = 5
    c.head_hidden = 64          # 0: the head is a single 1x1 layer
    c.dropout = 0.0
    c.conditional = False       # class label as a per-layer bias
    c.sampler = "cached"        # or "naive": same samples for the same key, slower
    c.eval_batches = 5
    c.num_grid = 16             # sampling is sequential: keep periodic grids small
    if family == "pixelcnn":
        c.architecture = "gated"  # or "plain", "pixelcnn_pp"
    if family == "pixelrnn":
        c.rnn = "row"  # Row LSTM, or "diagonal": Diagonal BiLSTM (needs sampler "naive")
    return c


def validate(config) -> None:
    data.require_kind(config, config.family, "images")
    if config.conditional:
        data.require_labels(config, f"a conditional {config.family}")
    if config.family == "pixelcnn" and config.architecture not in ARCHITECTURES:
        raise ConfigError(f"architecture must be one of {tuple(ARCHITECTURES)}, "
                          f"got {config.architecture!r}")
    if config.family == "pixelrnn" and config.rnn not in RNNS:
        raise ConfigError(f"rnn must be one of {tuple(RNNS)}, got {config.rnn!r}")
    what = (f"rnn {config.rnn!r}" if config.family == "pixelrnn"
            else f"architecture {config.architecture!r}")
    sampling.check_sampler(network_class(config), config.sampler, what)
    if config.head not in likelihoods.HEADS:
        raise ConfigError(f"head must be one of {likelihoods.HEADS}, got {config.head!r}")
    for key in ("hidden_channels", "num_layers", "num_mixtures"):
        if config[key] < 1:
            raise ConfigError(f"{key} must be >= 1, got {config[key]}")
    if config.kernel_size < 1 or config.kernel_size % 2 == 0:
        raise ConfigError(f"kernel_size must be odd and >= 1, got {config.kernel_size}")
    if config.first_kernel_size < 3 or config.first_kernel_size % 2 == 0:
        raise ConfigError("first_kernel_size must be odd and >= 3 (a mask-A layer needs "
                          f"neighbours), got {config.first_kernel_size}")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {config.dropout}")
    if config.head_hidden < 0:
        raise ConfigError(f"head_hidden must be >= 0, got {config.head_hidden}")
    optim.validate(config.optim, "optim")


def init(config, key, sample_batch):
    validate(config)
    return steps.init(config, key, sample_batch)


def network_evals(config) -> int:
    """Network evaluations per image: one per channel value, H * W * C. The
    naive sampler runs that many full forward passes; the cached sampler as
    many cached steps, each counted as one evaluation here although it
    computes only the network at one position (about 1 / (H * W * C) of a
    full forward's FLOPs)."""
    h, w, c = data.image_shape(config)
    return h * w * c


def upgrade_config(flat: dict, version: int) -> dict:
    """Keys of configs saved by an older jaxgen (engine.config.complete)."""
    if version < 2:
        # `channels` became a data key (image_folder's channel count); the
        # optimizer keys moved into `optim`: Adam, clipped when grad_clip_norm > 0,
        # cosine-decayed to 10% over decay_steps when decay_steps > 0.
        flat = rename_keys(flat, {"channels": "hidden_channels",
                                  "learning_rate": "optim.learning_rate",
                                  "grad_clip_norm": "optim.grad_clip_norm"})
        decay_steps = flat.pop("decay_steps", 0)
        flat["optim.schedule"] = "cosine" if decay_steps else "constant"
        flat["optim.decay_steps"] = int(decay_steps)
        flat["optim.final_lr_fraction"] = 0.1
    return flat


def _register():
    common = dict(init=init, train_step=steps.train_step, sample=sampling.sample,
                  eval_step=steps.eval_step, log_likelihood=steps.log_likelihood,
                  likelihood_kind=lambda config: "exact", evaluations=evaluation.EVALUATIONS,
                  network_evals=network_evals, upgrade_config=upgrade_config,
                  conditional=lambda config: config.conditional)
    register(Family(name="pixelcnn",
                    description="PixelCNN / Gated PixelCNN / PixelCNN++ with softmax or "
                                "discretized logistic mixture output; exact likelihood, "
                                "cached sampler",
                    default_config=lambda: default_config("pixelcnn"),
                    cpu_note=CPU_NOTES["pixelcnn"], **common))
    register(Family(name="pixelrnn",
                    description="PixelRNN (Row LSTM, cached sampler, or Diagonal BiLSTM); "
                                "exact likelihood",
                    default_config=lambda: default_config("pixelrnn"),
                    cpu_note=CPU_NOTES["pixelrnn"], **common))


_register()
