"""`pixelcnn` and `pixelrnn` families: exact likelihoods of 8-bit images.

One family group, two families sharing everything but the network:

- `pixelcnn`: architecture "plain" (PixelCNN: masked convs, residual blocks,
  has the blind spot), "gated" (Gated PixelCNN: vertical/horizontal stacks,
  no blind spot, optional class conditioning) or "pixelcnn_pp" (PixelCNN++:
  down / down-right streams of gated residual blocks in a 28 -> 14 -> 7 U-Net
  with shortcuts, pixelcnn_pp.py; naive sampler only). The other PixelCNN++
  elements are options of all three: head "logistic_mixture" (discretized
  logistic mixture instead of the 256-way softmax) and dropout with explicit
  keys.
- `pixelrnn`: recurrent layers after a mask-A convolution, rnn "row" (Row
  LSTM: triangular receptive field, cached sampler) or "diagonal" (Diagonal
  BiLSTM: the whole causal context but the previous row's last pixel; naive
  sampler only), pixelrnn.py.

The training objective is the exact negative log-likelihood of the uint8
image in nats, -sum_i log p(x_i | x_<i), averaged over the batch; bits/dim is
that divided by 784 ln 2. Sampling is raster order in one jitted loop,
"naive" (a full forward per pixel) or "cached" (sampling.py).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxgen import data, metrics
from jaxgen.autoregressive import likelihoods, sampling
from jaxgen.autoregressive.models import ARCHITECTURES
from jaxgen.autoregressive.pixelrnn import DiagonalBiLSTM, RowLSTM
from jaxgen.engine.config import base_config, rename_keys
from jaxgen.engine.state import TrainState, apply_gradients
from jaxgen.errors import ConfigError
from jaxgen.registry import Family, register

RNNS = {"row": RowLSTM, "diagonal": DiagonalBiLSTM}
NUM_GREY_LEVELS = 256
IMAGE_SHAPE = (28, 28)


def default_config(family: str = "pixelcnn"):
    c = base_config()
    c.family = family
    c.batch_size = 32
    c.steps = 3000
    c.learning_rate = 1e-3      # Adam
    c.decay_steps = 0           # > 0: cosine decay of the learning rate to 10% over these steps
    c.grad_clip_norm = 500.0    # global norm of the nats-per-image gradient; 0: no clipping
    c.hidden_channels = 32
    c.num_layers = 6
    c.kernel_size = 3           # the masked layers after the first
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
    data.require_image_dataset(config)
    if config.family == "pixelcnn" and config.architecture not in ARCHITECTURES:
        raise ConfigError(f"architecture must be one of {tuple(ARCHITECTURES)}, "
                          f"got {config.architecture!r}")
    if config.family == "pixelrnn" and config.get("rnn", "row") not in RNNS:
        raise ConfigError(f"rnn must be one of {tuple(RNNS)}, got {config.rnn!r}")
    what = (f"rnn {config.get('rnn', 'row')!r}" if config.family == "pixelrnn"
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
    if config.head_hidden < 0 or config.decay_steps < 0 or config.grad_clip_norm < 0:
        raise ConfigError("head_hidden, decay_steps and grad_clip_norm must be >= 0")


def network_class(config):
    if config.family == "pixelrnn":
        return RNNS[config.get("rnn", "row")]  # runs saved before `rnn` existed: Row LSTM
    return ARCHITECTURES[config.architecture]


def make_model(config):
    cls = network_class(config)
    return cls(num_categories=NUM_GREY_LEVELS, head=config.head, num_mixtures=config.num_mixtures,
               channels=config.hidden_channels, num_layers=config.num_layers,
               kernel_size=config.kernel_size, first_kernel_size=config.first_kernel_size,
               head_hidden=config.head_hidden,
               num_classes=data.num_classes(config) if config.conditional else 0,
               dropout_rate=config.dropout)


def make_optimizer(config):
    lr = config.learning_rate
    if config.decay_steps:
        lr = optax.cosine_decay_schedule(lr, config.decay_steps, alpha=0.1)
    adam = optax.adam(lr)
    if config.grad_clip_norm:
        return optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), adam)
    return adam


def class_onehot(config, labels):
    if not config.conditional or labels is None:
        return None
    return jax.nn.one_hot(labels, data.num_classes(config))


def grid(batch):
    """uint8 images [B, 28, 28, 1] -> int grid [B, 28, 28]."""
    return batch["image"][..., 0].astype(jnp.int32)


def init(config, key, sample_batch) -> TrainState:
    validate(config)
    params = make_model(config).init(key, grid(sample_batch),
                                     class_onehot(config, sample_batch["label"]))
    return TrainState.create(params, make_optimizer(config).init(params))


def image_nll(config, params, batch, dropout_key=None):
    """-log p(x) in nats per image, [B]; dropout only when a key is given."""
    tokens = grid(batch)
    out = make_model(config).apply(params, tokens, class_onehot(config, batch["label"]),
                                   dropout_key)
    return likelihoods.image_nll(config.head, out, tokens)


def bits_per_dim(nats):
    return metrics.bits_per_dim(nats, IMAGE_SHAPE[0] * IMAGE_SHAPE[1])


def nll_loss(config, params, batch, key):
    """(mean NLL in nats per image, metrics); `key` is the dropout key."""
    nll = jnp.mean(image_nll(config, params, batch, key if config.dropout > 0 else None))
    return nll, {"bpd": bits_per_dim(nll)}


def train_step(config, state, batch, key):
    (loss, aux), grads = jax.value_and_grad(nll_loss, argnums=1, has_aux=True)(
        config, state.params, batch, key)
    state = apply_gradients(state, grads, make_optimizer(config))
    return state, {"loss": loss, **aux, "grad_norm": optax.tree.norm(grads)}


def eval_step(config, state, batch, key):
    del key  # exact likelihood, no dropout at test time
    nll = jnp.mean(image_nll(config, state.params, batch))
    return {"loss": nll, "bpd": bits_per_dim(nll)}


def log_likelihood(config, state, batch, key):
    """Exact log p(x) of uint8 images in nats, [B]."""
    del key
    return -image_nll(config, state.params, batch)


def sample_labels(config, num: int, cond=None):
    if not config.conditional:
        return None
    if cond is None:
        labels = jnp.arange(num) % data.num_classes(config)
    else:
        labels = jnp.broadcast_to(jnp.asarray(cond, jnp.int32), (num,))
    return class_onehot(config, labels)


def sample(config, state, key, num: int, cond=None):
    """[num, 28, 28, 1] in [0, 1], drawn pixel by pixel with `config.sampler`."""
    tokens = sampling.sample_grid(make_model(config), state.params, key, num, *IMAGE_SHAPE,
                                  sample_labels(config, num, cond), config.sampler)
    return (tokens.astype(jnp.float32) / (NUM_GREY_LEVELS - 1))[..., None]


def upgrade_config(flat: dict, version: int) -> dict:
    """Keys of configs saved by an older jaxgen (engine.config.complete)."""
    if version < 2:  # `channels` became a data key (image_folder's channel count)
        flat = rename_keys(flat, {'channels': 'hidden_channels'})
    return flat


def _register():
    from jaxgen.autoregressive import evaluation
    common = dict(init=init, train_step=train_step, sample=sample, eval_step=eval_step,
                  log_likelihood=log_likelihood, evaluations=evaluation.EVALUATIONS,
                  upgrade_config=upgrade_config)
    register(Family(name="pixelcnn",
                    description="PixelCNN / Gated PixelCNN with softmax or discretized logistic "
                                "mixture (PixelCNN++) output; exact likelihood, cached sampler",
                    default_config=lambda: default_config("pixelcnn"), **common))
    register(Family(name="pixelrnn",
                    description="PixelRNN (Row LSTM, cached sampler, or Diagonal BiLSTM); "
                                "exact likelihood",
                    default_config=lambda: default_config("pixelrnn"), **common))


_register()
