"""`textgen`'s own evaluations (the test perplexity is the shared `nll`).

    text_samples   on min(num, eval_samples) samples drawn with the run's
                   sampling config: repeated-4-gram rate, distinct-1/2, mean
                   length in words, and the model's own log-likelihood of its
                   samples (plain model: no penalty, temperature 1) per word
    sample_speed   tokens/s of the cached and the uncached sampler, speed_batch
                   samples of speed_tokens tokens each, timed after compiling
    vocabulary     vocab_size and the test split's unknown-token rate

Sample statistics are over words as the word tokeniser splits them
(whitespace dropped, an unknown token one word), whatever the run's
tokeniser; a sample ends at its first <eos>.
"""
from __future__ import annotations

import functools
import re
import time

import jax
import jax.numpy as jnp
import numpy as np
import ml_collections

from jaxgen.data import text as text_data
from jaxgen.data import tokenizers
from jaxgen.data.tokenizers import EOS
from jaxgen.text import sampling, steps


def sample_words(text: str) -> list:
    """The words of a decoded sample; an unknown token is one word "<unk>", not
    the three pieces "<", "unk", ">" that split_words would make of it (which
    would count every repeated unknown-word bigram as a repeated 4-gram)."""
    words = []
    for i, piece in enumerate(re.split(r"(<unk>)", text)):
        if i % 2:  # the captured separators
            words.append("<unk>")
        else:
            words += [w.strip() for w in tokenizers.split_words(piece) if tokenizers.is_word(w)]
    return words


def ngrams(words, n: int) -> list:
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def repeated_ngram_rate(samples_words, n: int = 4) -> float:
    """Of all n-grams of the samples, the fraction that already occurred earlier
    in the same sample."""
    repeated = total = 0
    for words in samples_words:
        seen = set()
        for gram in ngrams(words, n):
            repeated += gram in seen
            seen.add(gram)
            total += 1
    return repeated / total if total else 0.0


def distinct_n(samples_words, n: int) -> float:
    """Distinct n-grams over all n-grams of the samples (Li et al. 2016)."""
    grams = [g for words in samples_words for g in ngrams(words, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def sample_statistics(texts) -> dict:
    words = [sample_words(t) for t in texts]
    return {"rep4_rate": repeated_ngram_rate(words, 4), "distinct_1": distinct_n(words, 1),
            "distinct_2": distinct_n(words, 2),
            "mean_length_words": float(np.mean([len(w) for w in words]))}


def plain_config(config):
    """The model itself: no penalty, no bans, temperature 1, no truncation."""
    c = ml_collections.ConfigDict(config.to_dict())
    c.repetition_penalty, c.no_repeat_ngram, c.temperature, c.top_k, c.top_p = 1.0, 0, 1.0, 0, 1.0
    return c


def own_log_likelihood(config, params, samples):
    """log p_model of each sample's tokens up to and including its first <eos>,
    prompt excluded. [N] nats"""
    num_prompt = len(sampling.prompt_ids(config)) - 1
    tokens = jnp.concatenate([jnp.full((samples.shape[0], 1), EOS, jnp.int32), samples], 1)
    log_p = steps.token_log_probs(plain_config(config), params, tokens)  # [N, T]
    position = jnp.arange(samples.shape[1])[None, :]
    is_eos = (samples == EOS) & (position >= num_prompt)
    first_eos = jnp.where(jnp.any(is_eos, 1), jnp.argmax(is_eos, 1), samples.shape[1])
    counted = (position >= num_prompt) & (position <= first_eos[:, None])
    return jnp.sum(jnp.where(counted, log_p, 0.0), axis=1)


def evaluate_text_samples(run, key, num: int) -> dict:
    config = run.config
    num = max(1, min(num, config.eval_samples))
    samples = run.sample(key, num)
    texts = text_data.decode_samples(config, samples)
    stats = sample_statistics(texts)
    nats = jax.device_get(jax.jit(functools.partial(own_log_likelihood, config))(
        run.state.params, samples))
    words = sum(len(sample_words(t)) + 1 for t in texts)  # + 1: each sample's end
    stats["own_nll_nats_per_word"] = float(-np.sum(nats) / words)
    stats["num_text_samples"] = int(num)
    return stats


def tokens_per_second(config, params, key, sampler: str, batch: int, tokens: int) -> float:
    c = ml_collections.ConfigDict(config.to_dict())
    c.sample_len, c.prompt = int(tokens), ""
    fn = jax.jit(functools.partial(sampling.sample_tokens, c, num=batch, sampler=sampler))
    jax.block_until_ready(fn(params, key))  # compiles
    start = time.perf_counter()
    jax.block_until_ready(fn(params, jax.random.fold_in(key, 1)))
    return batch * tokens / (time.perf_counter() - start)


def evaluate_sample_speed(run, key, num: int) -> dict:
    config = run.config
    batch, tokens = int(config.speed_batch), int(config.speed_tokens)
    cached = tokens_per_second(config, run.state.params, key, "cached", batch, tokens)
    uncached = tokens_per_second(config, run.state.params, key, "uncached", batch, tokens)
    return {"tokens_per_sec_cached": cached, "tokens_per_sec_uncached": uncached,
            "cache_speedup": cached / uncached, "speed_tokens": tokens, "speed_batch": batch,
            "device": jax.devices()[0].platform}


def evaluate_vocabulary(run, key, num: int) -> dict:
    return {"vocab_size": int(run.config.vocab_size),
            "unk_rate_test": text_data.unknown_rate(run.config, "test"),
            "tokenizer": str(run.config.tokenizer)}


EVALUATIONS = {"text_samples": evaluate_text_samples, "sample_speed": evaluate_sample_speed,
               "vocabulary": evaluate_vocabulary}
