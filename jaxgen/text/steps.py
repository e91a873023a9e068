"""init, train_step, eval_step and log_likelihood of `textgen`.

Every model gives log p(token | tokens before it in the window) for the
window's seq_len predicted tokens (`token_log_probs`); the loss is their mean
negative in nats per token, the log-likelihood of a window their sum. The
n-gram model has nothing to train: its counts are built in `init` from the
training split and its train step only reports the batch loss.
"""
from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
from jaxgen.data import text as text_data
from jaxgen.engine import optim
from jaxgen.engine.state import TrainState, apply_gradients
from jaxgen.text import kneser_ney
from jaxgen.text.models import make_network


def optimizer(config):
    return optim.make_optimizer(config.optim, total_steps=config.steps)


@functools.lru_cache(maxsize=4)
def _tables(fingerprint_json: str, vocab_size: int) -> dict:
    config = text_data.TextView(json.loads(fingerprint_json))
    return kneser_ney.build_tables(text_data.streams(config)["train_ids"], vocab_size)


def ngram_tables(config) -> dict:
    """The Kneser-Ney count tables of the run's training split (numpy, cached)."""
    view = text_data.text_view(config)
    return _tables(json.dumps(view, sort_keys=True), int(config.vocab_size))


def init(config, key, sample_batch) -> TrainState:
    if config.model == "ngram":
        params = {k: jnp.asarray(v) for k, v in ngram_tables(config).items()}
        return TrainState.create(params=params, opt_state=())
    net = make_network(config)
    params = net.init({"params": key}, sample_batch["tokens"][:, :-1])["params"]
    return TrainState.create(params=params, opt_state=optimizer(config).init(params))


def logits(config, params, tokens, dropout_key=None):
    """Next-token logits of a neural model at every position. [B, T, V]"""
    net = make_network(config)
    if dropout_key is None:
        return net.apply({"params": params}, tokens, deterministic=True)
    return net.apply({"params": params}, tokens, deterministic=False,
                     rngs={"dropout": dropout_key})


def token_log_probs(config, params, tokens, dropout_key=None):
    """log p(tokens[:, t] | tokens[:, :t]) for t = 1 .. T-1. [B, T-1]"""
    if config.model == "ngram":
        return kneser_ney.window_log_probs(params, tokens, int(config.vocab_size))
    log_p = jax.nn.log_softmax(logits(config, params, tokens[:, :-1], dropout_key), axis=-1)
    return jnp.take_along_axis(log_p, tokens[:, 1:, None], axis=-1)[..., 0]


def loss_fn(config, params, batch, dropout_key):
    """Mean negative log-likelihood in nats per predicted token."""
    log_p = token_log_probs(config, params, batch["tokens"], dropout_key)
    loss = -jnp.mean(log_p)
    return loss, {"loss": loss}


def train_step(config, state, batch, key):
    if config.model == "ngram":
        _, metrics = loss_fn(config, state.params, batch, None)
        return state, metrics
    use_dropout = config.dropout > 0
    grad_fn = jax.value_and_grad(functools.partial(loss_fn, config), has_aux=True)
    (_, metrics), grads = grad_fn(state.params, batch, key if use_dropout else None)
    metrics["grad_norm"] = optim_global_norm(grads)
    return apply_gradients(state, grads, optimizer(config)), metrics


def optim_global_norm(tree):
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


def log_likelihood(config, state, batch, key):
    """log p of a window's predicted tokens, nats. [B]"""
    return jnp.sum(token_log_probs(config, state.params, batch["tokens"]), axis=-1)


def eval_step(config, state, batch, key):
    log_p = token_log_probs(config, state.params, batch["tokens"])  # [B, T-1]
    words = jnp.maximum(jnp.sum(batch["num_words"]), 1)
    return {"loss": -jnp.mean(log_p), "nats_per_word": -jnp.sum(log_p) / words}

