"""Sampling: one jitted `lax.fori_loop` over positions, cached or uncached.

The buffer holds <eos> (the start symbol), the prompt's P tokens, then
sample_len sampled ones. Step t feeds token t and gets the logits of
position t + 1: sampler "cached" runs the network's `step` (LSTM state, GPT
key-value cache), "uncached" the full forward over the whole buffer (causal,
so the tokens after t do not matter). Both draw position t + 1 with the key
fold_in(key, t), so for a key they give the same tokens.

The logits of a sampled position are processed in this order:
  1. repetition penalty (CTRL, Keskar et al. 2019): for every distinct token
     already in the sample (prompt included), a positive logit is divided by
     the penalty and a negative one multiplied by it, so its probability
     drops whatever its sign;
  2. no-repeat-n-gram: a token that would complete an n-gram already in the
     sample is banned;
  3. temperature, then top-k, then top-p (nucleus).
After a sampled <eos>, the sample is finished: <eos> fills the rest.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.data import text as text_data
from jaxgen.data.tokenizers import EOS
from jaxgen.errors import ConfigError
from jaxgen.text import kneser_ney
from jaxgen.text.models import make_network

SAMPLERS = ("cached", "uncached")
BANNED = -1e30  # a logit that softmax turns into probability 0, without NaNs


def repetition_penalty(logits, seen, penalty: float):
    """CTRL's penalty on the tokens `seen` [B, V] (bool): positive logits / penalty,
    negative ones * penalty; the other tokens' logits are unchanged. [B, V]"""
    penalised = jnp.where(logits > 0, logits / penalty, logits * penalty)
    return jnp.where(seen, penalised, logits)


def ngram_bans(buffer, t, n: int, vocab_size: int):
    """[B, V] bool: tokens that, placed at position t + 1, would repeat an
    n-gram of buffer[:, :t + 1] [B, T] (t traced)."""
    b, length = buffer.shape
    starts = jnp.arange(length)  # candidate n-gram starts j: positions j .. j + n - 1 <= t
    match = (starts + n - 1 <= t) & (t - n + 2 >= 0)
    for k in range(n - 1):
        earlier = buffer[:, jnp.clip(starts + k, 0, length - 1)]          # [B, T]
        latest = jax.lax.dynamic_index_in_dim(buffer, jnp.clip(t - n + 2 + k, 0, length - 1),
                                              axis=1)                      # [B, 1]
        match = match & (earlier == latest)
    follower = buffer[:, jnp.clip(starts + n - 1, 0, length - 1)]           # [B, T]
    banned = jnp.zeros((b, vocab_size), jnp.int32)
    banned = banned.at[jnp.arange(b)[:, None], follower].max(match.astype(jnp.int32))
    return banned > 0


def top_k_filter(logits, k: int):
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    threshold = jax.lax.top_k(logits, k)[0][:, -1:]  # [B, 1]
    return jnp.where(logits < threshold, BANNED, logits)


def top_p_filter(logits, p: float):
    """Keep the most probable tokens whose probabilities reach p (at least one)."""
    if p >= 1.0:
        return logits
    order = jnp.argsort(-logits, axis=-1)
    sorted_logits = jnp.take_along_axis(logits, order, axis=-1)
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs  # mass of the better tokens
    keep_sorted = before < p
    keep = jnp.zeros_like(keep_sorted).at[jnp.arange(logits.shape[0])[:, None], order].set(
        keep_sorted)
    return jnp.where(keep, logits, BANNED)


def process_logits(config, logits, seen, buffer, t):
    """The sampling distribution's logits from the model's (see module doc). [B, V]"""
    logits = logits.astype(jnp.float32)
    if config.repetition_penalty != 1.0:
        logits = repetition_penalty(logits, seen, config.repetition_penalty)
    if config.no_repeat_ngram > 0:
        bans = ngram_bans(buffer, t, config.no_repeat_ngram, logits.shape[-1])
        logits = jnp.where(bans, BANNED, logits)
    logits = logits / config.temperature
    logits = top_k_filter(logits, config.top_k)
    return top_p_filter(logits, config.top_p)


def prompt_ids(config) -> np.ndarray:
    """<eos> then the prompt's tokens. [1 + P] int32"""
    ids = text_data.encode_prompt(config, config.prompt) if config.prompt else np.zeros(0)
    return np.concatenate([[EOS], ids]).astype(np.int32)


def _next_logits_fn(config, params, sampler: str):
    """(buffer [B, T], t, cache) -> (logits of position t + 1 [B, V], cache), and the
    initial cache."""
    vocab = int(config.vocab_size)
    if config.model == "ngram":
        def ngram_next(buffer, t, cache):
            u = jax.lax.dynamic_index_in_dim(buffer, jnp.maximum(t - 1, 0), 1, keepdims=False)
            v = jax.lax.dynamic_index_in_dim(buffer, t, 1, keepdims=False)
            has_u = jnp.full(u.shape, t >= 1)
            return kneser_ney.next_log_probs(params, u, v, has_u, vocab), cache
        return ngram_next, lambda b, length: ()
    net = make_network(config)
    variables = {"params": params}
    if sampler == "cached":
        def cached_next(buffer, t, cache):
            token = jax.lax.dynamic_index_in_dim(buffer, t, 1, keepdims=False)  # [B]
            return net.apply(variables, token, t, cache, method="step")
        return cached_next, lambda b, length: net.apply(variables, b, length,
                                                        method="init_cache")

    def uncached_next(buffer, t, cache):
        all_logits = net.apply(variables, buffer, deterministic=True)  # [B, T, V]
        return jax.lax.dynamic_index_in_dim(all_logits, t, 1, keepdims=False), cache
    return uncached_next, lambda b, length: ()


def sample_tokens(config, params, key, num: int, sampler: str | None = None):
    """The whole buffer after the start symbol: prompt then sample. int32 [num, P + sample_len]"""
    sampler = sampler or config.sampler
    start = prompt_ids(config)
    length = len(start) + int(config.sample_len)
    if (config.model == "transformer" and config.positions == "learned"
            and length > config.max_len):
        raise ConfigError(f"<eos> + prompt ({len(start) - 1} tokens) + sample_len "
                          f"({config.sample_len}) = {length} tokens is more than max_len "
                          f"{config.max_len}, the learned positions")
    vocab = int(config.vocab_size)
    buffer = jnp.zeros((num, length), jnp.int32).at[:, :len(start)].set(start[None, :])
    next_logits, init_cache = _next_logits_fn(config, params, sampler)
    seen = jnp.zeros((num, vocab), bool).at[:, start[1:]].set(True)
    done = jnp.zeros((num,), bool)

    def body(t, carry):
        buffer, cache, seen, done = carry
        logits, cache = next_logits(buffer, t, cache)
        processed = process_logits(config, logits, seen, buffer, t)
        drawn = jax.random.categorical(jax.random.fold_in(key, t), processed, axis=-1)
        drawn = jnp.where(done, EOS, drawn).astype(jnp.int32)
        forced = jax.lax.dynamic_index_in_dim(buffer, t + 1, 1, keepdims=False)
        in_prompt = t + 1 < len(start)
        token = jnp.where(in_prompt, forced, drawn)
        buffer = jax.lax.dynamic_update_index_in_dim(buffer, token, t + 1, axis=1)
        seen = seen.at[jnp.arange(num), token].set(True)
        done = done | (~in_prompt & (token == EOS))
        return buffer, cache, seen, done

    carry = (buffer, init_cache(num, length), seen, done)
    buffer = jax.lax.fori_loop(0, length - 1, body, carry)[0]
    return buffer[:, 1:]


def sample(config, state, key, num: int, cond=None):
    """Token ids [num, P + sample_len] in [0, vocab_size): the prompt, then the sample."""
    return sample_tokens(config, state.params, key, num)
