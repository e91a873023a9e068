"""`textgen`: autoregressive text generation over a `tokens` dataset.

    model  ngram         interpolated Kneser-Ney trigram, exact from counts (kneser_ney.py)
           lstm          embedding, stacked LSTM, output tied to the embedding
           transformer   small GPT: pre-norm blocks, causal self-attention,
                         learned or rotary positions, tied output, dropout

Data: `fortunes` (default) or `text_file` with `text_path`; `tokenizer`
word | char, `vocab_size` ids, windows of `seq_len` predicted tokens
(jaxgen/data/text.py). Test perplexity per word comes from the shared `nll`
evaluation (`ppl_word`), whatever the tokeniser.

Sampling (sampling.py): `prompt`, `sample_len`, `temperature`, `top_k`,
`top_p`, `repetition_penalty` (CTRL), `no_repeat_ngram`, `sampler`
cached | uncached (same tokens for a key).
"""
from __future__ import annotations

from jaxgen import data
from jaxgen.data import tokenizers
from jaxgen.engine import optim
from jaxgen.engine.config import base_config
from jaxgen.errors import ConfigError
from jaxgen.registry import Family, register
from jaxgen.text import evaluation, kneser_ney, sampling, steps
from jaxgen.text.models import check_heads

MODELS = ("ngram", "lstm", "transformer")
POSITIONS = ("learned", "rotary")


def default_config():
    """A small GPT on the fortunes, word level (experiments/text/ has the three rows)."""
    c = base_config()
    c.family = "textgen"
    c.dataset = "fortunes"
    c.model = "transformer"
    # Data (read by the text datasets, jaxgen/data/text.py).
    c.tokenizer = "word"
    c.vocab_size = 10000
    c.seq_len = 64
    c.text_path = ""
    # Networks.
    c.embed_dim = 128
    c.hidden = 128            # lstm
    c.num_layers = 2
    c.num_heads = 4           # transformer
    c.positions = "learned"   # or "rotary"
    c.max_len = 512           # learned positions: the longest sequence (training or sampling)
    c.dropout = 0.1
    c.batch_size = 16
    c.steps = 1500
    c.optim = optim.optim_config(name="adamw", learning_rate=2e-3, weight_decay=0.01,
                                 warmup_steps=100, schedule="cosine",
                                 final_lr_fraction=0.1, grad_clip_norm=1.0)
    c.log_every = 50
    c.eval_every = 500
    c.sample_every = 500
    c.ckpt_every = 500
    c.eval_batches = 10
    c.num_grid = 8            # text samples written every sample_every steps
    # Sampling.
    c.prompt = ""
    c.sample_len = 64
    c.temperature = 1.0
    c.top_k = 0               # 0: no top-k
    c.top_p = 1.0             # 1: no nucleus truncation
    c.repetition_penalty = 1.0
    c.no_repeat_ngram = 0     # 0: off; n: ban repeating any n-gram
    c.sampler = "cached"
    # Evaluation.
    c.eval_samples = 200      # text_samples: at most this many samples
    c.speed_tokens = 256
    c.speed_batch = 8
    return c


def validate(config) -> None:
    data.require_kind(config, "textgen", "tokens")
    if config.dataset != "text_file" and config.text_path:
        raise ConfigError(f"text_path is read by dataset text_file only; dataset is "
                          f"{config.dataset!r}")
    if config.model not in MODELS:
        raise ConfigError(f"model must be one of {MODELS}, got {config.model!r}")
    if config.tokenizer not in tokenizers.TOKENIZERS:
        raise ConfigError(f"tokenizer must be one of {tokenizers.TOKENIZERS}, "
                          f"got {config.tokenizer!r}")
    if config.sampler not in sampling.SAMPLERS:
        raise ConfigError(f"sampler must be one of {sampling.SAMPLERS}, got {config.sampler!r}")
    if config.positions not in POSITIONS:
        raise ConfigError(f"positions must be one of {POSITIONS}, got {config.positions!r}")
    for key in ("vocab_size", "seq_len", "embed_dim", "hidden", "num_layers", "sample_len",
                "eval_samples", "speed_tokens", "speed_batch"):
        if config[key] < 1:
            raise ConfigError(f"{key} must be >= 1, got {config[key]}")
    if config.model == "ngram" and config.vocab_size > kneser_ney.MAX_VOCAB:
        raise ConfigError(f"model ngram needs vocab_size <= {kneser_ney.MAX_VOCAB}")
    if config.model == "transformer":
        if not check_heads(config.embed_dim, config.num_heads):
            raise ConfigError(f"embed_dim {config.embed_dim} must split into num_heads "
                              f"{config.num_heads} heads of an even width")
        longest = max(config.seq_len, config.speed_tokens + 1)
        if config.positions == "learned" and config.max_len < longest:
            raise ConfigError(f"max_len {config.max_len} is shorter than seq_len or "
                              f"speed_tokens + 1 ({longest}); raise max_len or use "
                              f"positions=rotary")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {config.dropout}")
    if not config.temperature > 0:
        raise ConfigError(f"temperature must be > 0, got {config.temperature}")
    if not 0.0 < config.top_p <= 1.0:
        raise ConfigError(f"top_p must be in (0, 1], got {config.top_p}")
    if not config.repetition_penalty >= 1.0:
        raise ConfigError(f"repetition_penalty must be >= 1, got {config.repetition_penalty}")
    if config.top_k < 0 or config.no_repeat_ngram < 0 or config.no_repeat_ngram == 1:
        raise ConfigError("top_k must be >= 0 and no_repeat_ngram 0 or >= 2")
    optim.validate(config.optim, "optim")


def init(config, key, sample_batch):
    validate(config)
    return steps.init(config, key, sample_batch)


def _register():
    register(Family(
        name="textgen",
        description="word/char text generation: Kneser-Ney trigram, LSTM or small GPT; "
                    "KV-cached sampler with repetition penalty; perplexity per word",
        default_config=default_config, init=init, train_step=steps.train_step,
        sample=sampling.sample, log_likelihood=steps.log_likelihood,
        likelihood_kind=lambda config: "exact", eval_step=steps.eval_step,
        evaluations=evaluation.EVALUATIONS,
        network_evals=lambda config: config.sample_len,
        cpu_note="experiments/text/*.py: the three rows of experiments/results/text.md"))


_register()