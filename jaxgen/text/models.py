"""The neural language models of `textgen`: a stacked LSTM and a small GPT.

Both have one face for training and two for sampling:

    model.apply(params, tokens [B, T], deterministic, rngs)     -> logits [B, T, V]
    model.apply(params, B, total_len, method="init_cache")      -> cache pytree
    model.apply(params, token [B], position, cache, method="step") -> (logits [B, V], cache)

`step` computes exactly what the full forward computes at `position` given
the tokens before it: the LSTM carries its (h, c) state, the GPT a key-value
cache of every layer (keys and values written at `position`, attention over
the positions <= it). Output projections are tied to the input embedding.
Dropout (training only) draws from the "dropout" rng the caller passes.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def tied_logits(embedding: nn.Embed, h):
    """Logits with the output projection tied to the input embedding. [..., V]"""
    return embedding.attend(h)


# ---------------------------------------------------------------------------
# LSTM
# ---------------------------------------------------------------------------


def lstm_cell(wh, carry, x_projected):
    """One LSTM update from gates x W_x + b (precomputed) and h W_h."""
    h, c = carry
    gates = x_projected + h @ wh  # [B, 4H]
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f + 1.0) * c + jax.nn.sigmoid(i) * jnp.tanh(g)  # forget bias 1
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return h, c


class LSTMLayer(nn.Module):
    """One LSTM layer: the input projection of all steps is one GEMM; the
    recurrence is a lax.scan over time of the cell above."""

    hidden: int

    def setup(self):
        self.input_proj = nn.Dense(4 * self.hidden, name="input_proj")
        self.wh = self.param("wh", nn.initializers.orthogonal(), (self.hidden, 4 * self.hidden))

    def __call__(self, xs, carry):  # xs [B, T, D]; carry ([B, H], [B, H])
        projected = self.input_proj(xs)  # [B, T, 4H]

        def body(state, x_t):
            state = lstm_cell(self.wh, state, x_t)
            return state, state[0]

        carry, hs = jax.lax.scan(body, carry, jnp.swapaxes(projected, 0, 1))
        return jnp.swapaxes(hs, 0, 1), carry  # [B, T, H]


class LSTMLanguageModel(nn.Module):
    vocab_size: int
    embed_dim: int
    hidden: int
    num_layers: int
    dropout: float = 0.0

    def setup(self):
        self.embedding = nn.Embed(self.vocab_size, self.embed_dim,
                                  embedding_init=nn.initializers.normal(0.05))
        self.layers = [LSTMLayer(self.hidden) for _ in range(self.num_layers)]
        # Tying needs the last hidden state in the embedding's width.
        self.to_embed = (nn.Dense(self.embed_dim) if self.hidden != self.embed_dim else None)
        self.drop = nn.Dropout(self.dropout)

    def _zero_state(self, batch: int):
        zeros = jnp.zeros((batch, self.hidden), jnp.float32)
        return [(zeros, zeros) for _ in range(self.num_layers)]

    def _run(self, tokens, states, deterministic: bool):
        x = self.drop(self.embedding(tokens), deterministic=deterministic)  # [B, T, E]
        new_states = []
        for layer, state in zip(self.layers, states):
            x, state = layer(x, state)
            x = self.drop(x, deterministic=deterministic)
            new_states.append(state)
        if self.to_embed is not None:
            x = self.to_embed(x)
        return tied_logits(self.embedding, x), new_states

    def __call__(self, tokens, deterministic: bool = True):
        logits, _ = self._run(tokens, self._zero_state(tokens.shape[0]), deterministic)
        return logits

    def init_cache(self, batch: int, total_len: int):
        return self._zero_state(batch)

    def step(self, token, position, cache):
        logits, cache = self._run(token[:, None], cache, deterministic=True)
        return logits[:, 0], cache


# ---------------------------------------------------------------------------
# GPT
# ---------------------------------------------------------------------------


def rotary(x, positions):
    """Rotary position embedding of x [B, T, H, Dh] at positions [T] (RoFormer):
    pairs (x_i, x_{i + Dh/2}) rotated by angle position * 10000^(-2i/Dh)."""
    half = x.shape[-1] // 2
    freqs = 10000.0 ** (-jnp.arange(half, dtype=jnp.float32) / half)  # [Dh/2]
    angles = positions.astype(jnp.float32)[:, None] * freqs[None, :]  # [T, Dh/2]
    cos, sin = jnp.cos(angles)[None, :, None, :], jnp.sin(angles)[None, :, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


class CausalSelfAttention(nn.Module):
    dim: int
    num_heads: int
    rotary: bool
    dropout: float = 0.0

    def setup(self):
        self.qkv = nn.Dense(3 * self.dim)
        self.out = nn.Dense(self.dim, kernel_init=nn.initializers.normal(0.02))
        self.drop = nn.Dropout(self.dropout)

    def _heads(self, x, positions):
        b, t, _ = x.shape
        q, k, v = jnp.split(self.qkv(x), 3, axis=-1)
        q, k, v = (a.reshape(b, t, self.num_heads, self.dim // self.num_heads)
                   for a in (q, k, v))  # [B, T, H, Dh]
        if self.rotary:
            q, k = rotary(q, positions), rotary(k, positions)
        return q, k, v

    def __call__(self, x, deterministic: bool):  # [B, T, D]
        b, t, _ = x.shape
        q, k, v = self._heads(x, jnp.arange(t))
        y = jax.nn.dot_product_attention(q, k, v, is_causal=True)  # [B, T, H, Dh]
        return self.drop(self.out(y.reshape(b, t, self.dim)), deterministic=deterministic)

    def step(self, x, position, cache):  # x [B, 1, D]; cache {"k", "v"}: [B, Tmax, H, Dh]
        b = x.shape[0]
        q, k, v = self._heads(x, jnp.asarray(position)[None])
        keys = jax.lax.dynamic_update_slice(cache["k"], k, (0, position, 0, 0))
        values = jax.lax.dynamic_update_slice(cache["v"], v, (0, position, 0, 0))
        visible = (jnp.arange(keys.shape[1]) <= position)[None, None, None, :]  # [1, 1, 1, Tmax]
        y = jax.nn.dot_product_attention(q, keys, values, mask=visible)
        return self.out(y.reshape(b, 1, self.dim)), {"k": keys, "v": values}


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN x), then x + MLP(LN x)."""

    dim: int
    num_heads: int
    rotary: bool
    dropout: float = 0.0

    def setup(self):
        self.ln1, self.ln2 = nn.LayerNorm(), nn.LayerNorm()
        self.attn = CausalSelfAttention(self.dim, self.num_heads, self.rotary, self.dropout)
        self.fc = nn.Dense(4 * self.dim)
        self.proj = nn.Dense(self.dim, kernel_init=nn.initializers.normal(0.02))
        self.drop = nn.Dropout(self.dropout)

    def _mlp(self, x, deterministic: bool):
        return self.drop(self.proj(jax.nn.gelu(self.fc(self.ln2(x)))), deterministic=deterministic)

    def __call__(self, x, deterministic: bool):
        x = x + self.attn(self.ln1(x), deterministic)
        return x + self._mlp(x, deterministic)

    def step(self, x, position, cache):
        y, cache = self.attn.step(self.ln1(x), position, cache)
        x = x + y
        return x + self._mlp(x, True), cache


class GPT(nn.Module):
    vocab_size: int
    dim: int
    num_layers: int
    num_heads: int
    max_len: int
    positions: str = "learned"  # or "rotary"
    dropout: float = 0.0

    def setup(self):
        self.embedding = nn.Embed(self.vocab_size, self.dim,
                                  embedding_init=nn.initializers.normal(0.02))
        if self.positions == "learned":
            self.position_embedding = self.param("position_embedding",
                                                 nn.initializers.normal(0.01),
                                                 (self.max_len, self.dim))
        self.blocks = [Block(self.dim, self.num_heads, self.positions == "rotary", self.dropout)
                       for _ in range(self.num_layers)]
        self.ln_f = nn.LayerNorm()
        self.drop = nn.Dropout(self.dropout)

    def _embed(self, tokens, start):  # tokens [B, T] at positions start .. start + T - 1
        x = self.embedding(tokens)
        if self.positions == "learned":
            x = x + jax.lax.dynamic_slice_in_dim(self.position_embedding, start, tokens.shape[1])
        return x

    def __call__(self, tokens, deterministic: bool = True):
        x = self.drop(self._embed(tokens, 0), deterministic=deterministic)  # [B, T, D]
        for block in self.blocks:
            x = block(x, deterministic)
        return tied_logits(self.embedding, self.ln_f(x))  # [B, T, V]

    def init_cache(self, batch: int, total_len: int):
        head_dim = self.dim // self.num_heads
        zeros = jnp.zeros((batch, total_len, self.num_heads, head_dim), jnp.float32)
        return [{"k": zeros, "v": zeros} for _ in range(self.num_layers)]

    def step(self, token, position, cache):
        x = self._embed(token[:, None], position)  # [B, 1, D]
        new_cache = []
        for block, layer_cache in zip(self.blocks, cache):
            x, layer_cache = block.step(x, position, layer_cache)
            new_cache.append(layer_cache)
        return tied_logits(self.embedding, self.ln_f(x))[:, 0], new_cache


def make_network(config):
    """The config's network (None for the n-gram model)."""
    vocab = int(config.vocab_size)
    if config.model == "lstm":
        return LSTMLanguageModel(vocab, config.embed_dim, config.hidden, config.num_layers,
                                 config.dropout)
    if config.model == "transformer":
        return GPT(vocab, config.embed_dim, config.num_layers, config.num_heads, config.max_len,
                   config.positions, config.dropout)
    return None


def check_heads(dim: int, num_heads: int) -> bool:
    return num_heads >= 1 and dim % num_heads == 0 and (dim // num_heads) % 2 == 0

