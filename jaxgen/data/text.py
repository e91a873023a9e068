"""Text corpora as `tokens` datasets: `fortunes` and `text_file`.

    fortunes    Debian's fortunes and fortunes-min packages
                (/usr/share/games/fortunes; JAXGEN_FORTUNES_DIR overrides):
                every fortune (text between "%" lines) is a document
    text_file   any UTF-8 text file or folder (`text_path`; a folder: its
                files, sorted by relative path, hidden names skipped); a
                document is a paragraph (text between blank lines)

Splits by document, fixed whatever the run's seed: a document goes to test
when crc32(document) % 20 == 0, to validation when it is 1, else to train.
The vocabulary (`tokenizers.py`, `tokenizer` word | char, `vocab_size` ids)
is built from the train split only. Each split is one token stream, cut into
non-overlapping windows of `seq_len + 1` tokens (window i starts at token
i * seq_len, so every token but the stream's first is predicted once):

    {"tokens": int32 [N, seq_len + 1], "num_words": int32 [N]}

num_words counts the words that end among a window's seq_len predicted
tokens (the per-word perplexity's denominator). The training iterator
shuffles windows by the data key like any dataset (resumable exactly).
Streams and vocabulary are cached under `array_cache.cache_dir()/text`,
keyed by the corpus files (paths, sizes, modification times), tokenizer and
vocabulary size.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import zlib

import numpy as np

from jaxgen import data as _data
from jaxgen.data import array_cache, tokenizers
from jaxgen.data.specs import Dataset, DatasetSpec, Field
from jaxgen.errors import ConfigError, DatasetError

FORTUNES_DIR = "/usr/share/games/fortunes"
FORTUNES_ENV = "JAXGEN_FORTUNES_DIR"
FORTUNES_HOW_TO_GET = "apt-get install fortunes fortunes-min"
SPLITS = ("train", "validation", "test")
SPLIT_MODULUS = 20  # crc32 % 20: 0 test, 1 validation (5% each)
FORMAT_VERSION = 2  # bump when tokenising changes, so old cache files are not reused
# Text keys of the textgen config and their defaults (a dataset reads them with .get).
TEXT_DEFAULTS = {"tokenizer": "word", "vocab_size": 10000, "seq_len": 64, "text_path": ""}


def text_setting(config, key: str):
    return config.get(key, TEXT_DEFAULTS[key])


# ---------------------------------------------------------------------------
# Corpora: lists of documents
# ---------------------------------------------------------------------------


def fortunes_dir() -> str:
    return os.environ.get(FORTUNES_ENV, FORTUNES_DIR)


def fortune_files(root: str) -> list:
    """The fortune text files of `root`: no extension (.dat is the index, .u8 a link)."""
    if not os.path.isdir(root):
        raise DatasetError(f"the fortunes corpus is missing ({root} not found): "
                           f"{FORTUNES_HOW_TO_GET}")
    files = [os.path.join(root, name) for name in sorted(os.listdir(root))
             if "." not in name and os.path.isfile(os.path.join(root, name))]
    if not files:
        raise DatasetError(f"the fortunes corpus is missing ({root} holds no fortune files): "
                           f"{FORTUNES_HOW_TO_GET}")
    return files


def read_text(path: str) -> str:
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # a few old fortune files are Latin-1


def split_fortunes(text: str) -> list:
    """Fortunes are separated by lines holding only "%"."""
    docs, lines = [], []
    for line in text.split("\n"):
        if line == "%":
            docs.append("\n".join(lines))
            lines = []
        else:
            lines.append(line)
    docs.append("\n".join(lines))
    return [d.strip("\n") for d in docs if d.strip()]


def split_paragraphs(text: str) -> list:
    paragraphs, lines = [], []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip():
            lines.append(line)
        elif lines:
            paragraphs.append("\n".join(lines))
            lines = []
    if lines:
        paragraphs.append("\n".join(lines))
    return paragraphs


def text_files(path: str) -> list:
    if not path:
        raise ConfigError("dataset text_file needs --config.text_path=FILE_OR_FOLDER")
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise DatasetError(f"text_path {path!r} is neither a file nor a folder")
    files = []
    for folder, subfolders, names in os.walk(path):
        subfolders[:] = sorted(s for s in subfolders if not s.startswith("."))
        files += [os.path.join(folder, n) for n in sorted(names) if not n.startswith(".")]
    if not files:
        raise DatasetError(f"text_path {path!r} holds no files")
    return sorted(files)


def corpus_files(config) -> list:
    if config.dataset == "fortunes":
        return fortune_files(fortunes_dir())
    return text_files(os.path.abspath(text_setting(config, "text_path")))


def documents(config) -> list:
    """Every document of the run's corpus, in file order."""
    splitter = split_fortunes if config.dataset == "fortunes" else split_paragraphs
    docs = []
    for path in corpus_files(config):
        docs += splitter(read_text(path))
    if not docs:
        raise DatasetError(f"the corpus of {config.dataset} holds no text")
    return docs


def split_of(document: str) -> str:
    r = zlib.crc32(document.encode("utf-8")) % SPLIT_MODULUS
    return "test" if r == 0 else "validation" if r == 1 else "train"


def split_documents(docs) -> dict:
    out = {s: [] for s in SPLITS}
    for d in docs:
        out[split_of(d)].append(d)
    return out


# ---------------------------------------------------------------------------
# Tokenised streams, cached
# ---------------------------------------------------------------------------


def _fingerprint(config) -> str:
    files = corpus_files(config)
    listing = [(os.path.abspath(p), os.path.getsize(p), int(os.path.getmtime(p))) for p in files]
    key = json.dumps({"version": FORMAT_VERSION, "dataset": config.dataset, "files": listing,
                      "tokenizer": text_setting(config, "tokenizer"),
                      "vocab_size": int(text_setting(config, "vocab_size"))})
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def _build(config) -> dict:
    tokenizer = text_setting(config, "tokenizer")
    by_split = split_documents(documents(config))
    if not by_split["train"] or not by_split["test"]:
        raise DatasetError(f"{config.dataset}: too few documents for a train and a test split "
                           f"({ {s: len(d) for s, d in by_split.items()} })")
    vocabulary = tokenizers.build_vocabulary(by_split["train"], tokenizer,
                                             int(text_setting(config, "vocab_size")))
    out = {"vocabulary": np.array(vocabulary, dtype=str)}
    for s, docs in by_split.items():
        out[f"{s}_ids"], out[f"{s}_marks"] = tokenizers.encode_documents(docs, tokenizer,
                                                                         vocabulary)
    return out


@functools.lru_cache(maxsize=8)
def _streams_cached(fingerprint: str, config_json: str) -> dict:
    config = json.loads(config_json)
    view = TextView(config)
    path = array_cache.cache_path("text", f"{config['dataset']}_{fingerprint}.npz")
    return array_cache.load_or_build(path, lambda: _build(view))


class TextView(dict):
    """The few config keys the text datasets read, as a hashable-by-JSON dict."""

    def __getattr__(self, name):
        return self[name]

    def get(self, key, default=None):
        return super().get(key, default)


def text_view(config) -> dict:
    view = {"dataset": config.dataset}
    view.update({k: text_setting(config, k) for k in TEXT_DEFAULTS})
    return view


def streams(config) -> dict:
    """{"vocabulary": str [V], "{split}_ids": int32 [n], "{split}_marks": int8 [n]}."""
    view = TextView(text_view(config))
    return _streams_cached(_fingerprint(view), json.dumps(view, sort_keys=True))


def vocabulary(config) -> list:
    return streams(config)["vocabulary"].tolist()


def windows(ids: np.ndarray, marks: np.ndarray, seq_len: int) -> dict:
    """Non-overlapping windows of seq_len + 1 tokens, overlapping by one token."""
    num = (len(ids) - 1) // seq_len
    if num < 1:
        raise DatasetError(f"the split holds {len(ids)} tokens: too few for one window of "
                           f"seq_len + 1 = {seq_len + 1}")
    starts = np.arange(num)[:, None] * seq_len
    tokens = ids[starts + np.arange(seq_len + 1)[None, :]]  # [N, seq_len + 1]
    words = marks[starts + np.arange(1, seq_len + 1)[None, :]].sum(1)  # [N]
    return {"tokens": tokens.astype(np.int32), "num_words": words.astype(np.int32)}


def load(config, split: str) -> dict:
    if split not in SPLITS:
        raise ConfigError(f"text datasets have splits {SPLITS}, not {split!r}")
    s = streams(config)
    return windows(s[f"{split}_ids"], s[f"{split}_marks"], int(text_setting(config, "seq_len")))


def unknown_rate(config, split: str = "test") -> float:
    ids = streams(config)[f"{split}_ids"]
    return float(np.mean((ids == tokenizers.UNK) | (ids == tokenizers.SPACE_UNK)))


def spec(config) -> DatasetSpec:
    vocab = int(text_setting(config, "vocab_size"))
    seq_len = int(text_setting(config, "seq_len"))
    fields = {"tokens": Field((seq_len + 1,), np.dtype(np.int32), 0, vocab - 1),
              "num_words": Field((), np.dtype(np.int32), 0, seq_len)}
    return DatasetSpec(name=config.dataset, kind="tokens", fields=fields, splits=SPLITS)


def decode_samples(config, samples) -> list:
    """Sampled ids [N, T] (after the start symbol) -> N strings, each cut at its <eos>."""
    vocab = vocabulary(config)
    return [tokenizers.decode(row, vocab) for row in np.asarray(samples)]


def write_samples(path: str, texts, jsonl: bool = False) -> str:
    """Texts to `path`: .txt, samples separated by lines holding only "%" (the
    fortune format); .jsonl (or jsonl=True), one {"text": ...} object a line."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        if jsonl or path.endswith(".jsonl"):
            f.writelines(json.dumps({"text": t}) + "\n" for t in texts)
        else:
            f.write("\n%\n".join(texts) + "\n")
    os.replace(path + ".tmp", path)
    return path


def encode_prompt(config, text: str) -> np.ndarray:
    return tokenizers.encode_text(text, text_setting(config, "tokenizer"), vocabulary(config))


_data.register(Dataset(
    name="fortunes", description="Debian's fortunes (+ fortunes-min), a document per fortune",
    spec=spec, load=load, config_keys=(), how_to_get=FORTUNES_HOW_TO_GET))
_data.register(Dataset(
    name="text_file", description="a UTF-8 text file or folder (text_path), a document per "
                                  "paragraph", spec=spec, load=load, config_keys=("text_path",),
    how_to_get="--config.text_path=FILE_OR_FOLDER"))
