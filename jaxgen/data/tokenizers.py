"""Word and character tokenisers over a fixed vocabulary.

Word level, as the course describes: words and punctuation marks. A token
keeps the single space before it (" the", " ,"), and any other whitespace
character is a token of its own ("\\n", "\\t", a second space), so joining a
document's token strings gives the document back character for character
(`split_words`, `join`). Character level: one token per character.

A vocabulary is the `size` ids: 0 = <eos> (end of document, also the start
symbol), 1 = <unk> and 2 = " <unk>" (an unknown token without / with the
space before it, so a decoded text keeps its spacing), then the most
frequent token strings of the training split (ties broken by the string),
padded with never-seen placeholders when the corpus has fewer types, so the
vocabulary size is exactly the configured one and a dataset's spec needs no
data.

"Words" for perplexity: whatever the tokeniser, a word is one word-level
token that is not whitespace, or a document end. `word_ends` marks, for each
token of a stream, whether a word ends there; per-word perplexity divides a
window's nats by the number of marks among its predicted tokens, so rows of
different tokenisers compare.
"""
from __future__ import annotations

import collections
import re

import numpy as np

from jaxgen.errors import ConfigError

TOKENIZERS = ("word", "char")
EOS, UNK, SPACE_UNK = 0, 1, 2
SPECIALS = ("<eos>", "<unk>", " <unk>")

# A word (letters/digits with inner apostrophes), or one punctuation mark,
# each taking the single space before it; else one whitespace character.
_WORD_PATTERN = re.compile(r" ?\w+(?:'\w+)*| ?[^\w\s]|\s")


def split_words(text: str) -> list:
    """The word-level token strings of `text`; "".join(...) == text."""
    return _WORD_PATTERN.findall(text)


def split_chars(text: str) -> list:
    return list(text)


def split(text: str, tokenizer: str) -> list:
    if tokenizer == "word":
        return split_words(text)
    if tokenizer == "char":
        return split_chars(text)
    raise ConfigError(f"tokenizer must be one of {TOKENIZERS}, got {tokenizer!r}")


def join(pieces) -> str:
    return "".join(pieces)


def is_word(piece: str) -> bool:
    """A word-level token that counts as a word: not whitespace only."""
    return not piece.isspace()


def word_end_marks(text: str, tokenizer: str) -> np.ndarray:
    """For each token of `split(text, tokenizer)`: 1 where a word ends, else 0. [n] int8"""
    words = split_words(text)
    if tokenizer == "word":
        return np.array([is_word(w) for w in words], np.int8)
    marks = np.zeros(len(text), np.int8)
    position = 0
    for w in words:
        position += len(w)
        if is_word(w):
            marks[position - 1] = 1  # the word's last character
    return marks


def build_vocabulary(documents, tokenizer: str, size: int) -> list:
    """The `size` token strings of the vocabulary, id order (see module doc)."""
    if size < len(SPECIALS) + 1:
        raise ConfigError(f"vocab_size must be >= {len(SPECIALS) + 1}, got {size}")
    counts = collections.Counter()
    for doc in documents:
        counts.update(split(doc, tokenizer))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    frequent = [piece for piece, _ in ranked[:size - len(SPECIALS)]]
    unused = [f"<unused{i}>" for i in range(size - len(SPECIALS) - len(frequent))]
    return list(SPECIALS) + frequent + unused


def _ids(pieces, index: dict) -> list:
    return [index.get(p, SPACE_UNK if p.startswith(" ") and len(p) > 1 else UNK) for p in pieces]


def encode_documents(documents, tokenizer: str, vocabulary: list) -> tuple:
    """One token stream: <eos> doc_1 <eos> doc_2 <eos> ... (ids int32 [n]), and
    its word-end marks (int8 [n]; every <eos> after a document ends a word)."""
    index = {piece: i for i, piece in enumerate(vocabulary)}
    ids, marks = [np.array([EOS], np.int32)], [np.zeros(1, np.int8)]
    for doc in documents:
        pieces = split(doc, tokenizer)
        ids.append(np.array(_ids(pieces, index) + [EOS], np.int32))
        marks.append(np.concatenate([word_end_marks(doc, tokenizer), np.ones(1, np.int8)]))
    return np.concatenate(ids), np.concatenate(marks)


def encode_text(text: str, tokenizer: str, vocabulary: list) -> np.ndarray:
    """A prompt's ids, without the leading <eos>. [n] int32"""
    index = {piece: i for i, piece in enumerate(vocabulary)}
    return np.array(_ids(split(text, tokenizer), index), np.int32)


def decode(ids, vocabulary: list, stop_at_eos: bool = True) -> str:
    """Token ids -> text; stops at the first <eos> (unless stop_at_eos=False)."""
    pieces = []
    for i in np.asarray(ids).tolist():
        if i == EOS and stop_at_eos:
            break
        pieces.append(vocabulary[i])
    return join(pieces)
