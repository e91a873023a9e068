"""textgen: tokenisers, Kneser-Ney, causality, cached sampling, penalties, perplexity."""
import collections
import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.data import text as text_data
from jaxgen.data import tokenizers
from jaxgen.engine import config as config_lib
from jaxgen.engine.run import Run
from jaxgen.errors import DatasetError
from jaxgen.metrics import runner
from jaxgen import registry
from jaxgen.text import evaluation, kneser_ney, sampling, steps
from jaxgen.text.models import make_network

from conftest import run_cli

TRICKY = "Hello,  world!\n\tIt's   a 'test' -- of\ttabs...\n\n  ünïcode ½ and don't stop."
SMALL = {"embed_dim": "16", "hidden": "16", "num_layers": "2", "num_heads": "2",
         "seq_len": "12", "vocab_size": "40", "max_len": "64", "sample_len": "10",
         "speed_tokens": "8", "batch_size": "4", "dropout": "0.0"}


def write_corpus(folder, num_docs=60, seed=0, one_line=False):
    """Paragraphs of random words from a small lexicon (a text_file corpus)."""
    rng = np.random.default_rng(seed)
    lexicon = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away", "and", "so"]
    paragraphs = []
    for _ in range(num_docs):
        words = rng.choice(lexicon, size=rng.integers(3, 12)).tolist()
        if not one_line:
            words[len(words) // 2] += rng.choice([",", ".", "!"]) + rng.choice([" ", "\n"])
        paragraphs.append(" ".join(words).replace("\n ", "\n"))
    path = os.path.join(folder, "corpus.txt")
    with open(path, "w") as f:
        f.write("\n\n".join(paragraphs) + "\n")
    return path


def text_config(path, **overrides):
    values = {**SMALL, "dataset": "text_file", "text_path": path}
    values.update({k: str(v) for k, v in overrides.items()})
    return config_lib.build_config("textgen", overrides=values)


# ----------------------------------------------------------------- tokenisers


def fortunes_available():
    return os.path.isdir(text_data.fortunes_dir())


@pytest.mark.parametrize("tokenizer", tokenizers.TOKENIZERS)
def test_tokenise_detokenise_round_trip(tokenizer):
    texts = [TRICKY]
    if fortunes_available():
        config = config_lib.build_config("textgen", overrides={"vocab_size": "50"})
        texts += text_data.documents(config)
    for text in texts:
        pieces = tokenizers.split(text, tokenizer)
        assert tokenizers.join(pieces) == text
        # With every piece in the vocabulary, ids decode to the text itself.
        vocab = tokenizers.build_vocabulary([text], tokenizer, len(set(pieces)) + 3)
        ids, _ = tokenizers.encode_documents([text], tokenizer, vocab)
        assert tokenizers.decode(ids[1:], vocab) == text
        if len(texts) > 1:
            break  # the corpus: one vocabulary per document would be slow; split-join covers it
    if len(texts) > 1:
        assert all(tokenizers.join(tokenizers.split(t, tokenizer)) == t for t in texts)


def test_words_are_counted_alike_by_both_tokenisers():
    word = tokenizers.word_end_marks(TRICKY, "word")
    char = tokenizers.word_end_marks(TRICKY, "char")
    assert len(char) == len(TRICKY) and word.sum() == char.sum()
    # 13 space-separated words, 9 more marks split off them: , ! two quotes, the
    # second dash, three dots after tabs, the final dot.
    assert word.sum() == len(TRICKY.split()) + 9


def test_unknown_tokens_keep_their_space():
    vocab = tokenizers.build_vocabulary(["a b"], "word", 6)
    ids = tokenizers.encode_text("a zebra b", "word", vocab)
    assert ids.tolist()[1] == tokenizers.SPACE_UNK
    assert tokenizers.decode(ids, vocab) == "a <unk> b"


def test_missing_fortunes_is_one_clear_message(tmp_path):
    config = config_lib.build_config("textgen")
    os.environ[text_data.FORTUNES_ENV] = str(tmp_path / "absent")
    try:
        with pytest.raises(DatasetError, match="apt-get install fortunes fortunes-min"):
            text_data.load(config, "train")
    finally:
        del os.environ[text_data.FORTUNES_ENV]
    result = run_cli("train", "textgen", "--workdir", str(tmp_path / "run"), check=False,
                     env={text_data.FORTUNES_ENV: str(tmp_path / "absent")})
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr  # status lines aside
    assert "apt-get install fortunes fortunes-min" in result.stderr


def test_windows_predict_every_token_once(tmp_path):
    config = text_config(write_corpus(str(tmp_path)))
    s = text_data.streams(config)
    w = text_data.load(config, "train")
    seq = config.seq_len
    assert w["tokens"].shape[1] == seq + 1
    np.testing.assert_array_equal(w["tokens"][1:, 0], w["tokens"][:-1, -1])  # overlap of one
    covered = len(w["tokens"]) * seq
    assert w["num_words"].sum() == s["train_marks"][1:covered + 1].sum()


# ----------------------------------------------------------------- Kneser-Ney


def reference_kn(ids, vocab_size):
    """Interpolated Kneser-Ney from Python dicts, written from the formulas."""
    tri = collections.Counter(zip(ids[:-2], ids[1:-1], ids[2:]))
    cont2 = collections.Counter((v, w) for (_, v, w) in tri)
    cont1 = collections.Counter(w for (_, w) in cont2)

    def d(counts):
        n1 = sum(c == 1 for c in counts.values())
        n2 = sum(c == 2 for c in counts.values())
        return min(max(n1 / (n1 + 2 * n2), 0.05), 0.95) if n1 + 2 * n2 else 0.5

    d1, d2, d3 = d(cont1), d(cont2), d(tri)

    def p1(w):
        total = sum(cont1.values())
        return (max(cont1[w] - d1, 0) + d1 * len(cont1) / vocab_size) / total

    def p2(v, w):
        total = sum(c for (a, _), c in cont2.items() if a == v)
        if total == 0:
            return p1(w)
        types = sum(1 for (a, _) in cont2 if a == v)
        return (max(cont2[(v, w)] - d2, 0) + d2 * types * p1(w)) / total

    def p3(u, v, w):
        total = sum(c for (a, b, _), c in tri.items() if (a, b) == (u, v))
        if total == 0:
            return p2(v, w)
        types = sum(1 for (a, b, _) in tri if (a, b) == (u, v))
        return (max(tri[(u, v, w)] - d3, 0) + d3 * types * p2(v, w)) / total

    return p2, p3


def test_kneser_ney_matches_reference_and_sums_to_one():
    vocab = 12
    rng = np.random.default_rng(0)
    weights = np.arange(1, vocab - 1)  # a skewed unigram distribution
    ids = rng.choice(vocab - 2, size=400, p=weights / weights.sum())
    tables = {k: jnp.asarray(v) for k, v in kneser_ney.build_tables(ids, vocab).items()}
    p2_ref, p3_ref = reference_kn(ids.tolist(), vocab)
    contexts = rng.integers(0, vocab, size=(20, 2))  # ids vocab-2, vocab-1 never occur
    contexts[:3] = [(ids[5], ids[6]), (ids[10], ids[11]), (vocab - 1, vocab - 1)]
    w = jnp.arange(vocab)
    for u, v in contexts:
        p3 = np.asarray(kneser_ney.trigram(tables, jnp.int32(u), jnp.int32(v), w, vocab))
        p2 = np.asarray(kneser_ney.bigram(tables, jnp.int32(v), w, vocab))
        np.testing.assert_allclose(p3.sum(), 1.0, atol=1e-5)
        np.testing.assert_allclose(p2.sum(), 1.0, atol=1e-5)
        np.testing.assert_allclose(p3, [p3_ref(int(u), int(v), int(x)) for x in range(vocab)],
                                   rtol=1e-5)
        np.testing.assert_allclose(p2, [p2_ref(int(v), int(x)) for x in range(vocab)],
                                   rtol=1e-5)


# ----------------------------------------------------------------- networks


def tiny_params(config, seed=0):
    net = make_network(config)
    tokens = jnp.zeros((2, config.seq_len), jnp.int32)
    return net, net.init({"params": jax.random.key(seed)}, tokens)["params"]


MODEL_CASES = [{"model": "transformer", "positions": "learned"},
               {"model": "transformer", "positions": "rotary"}, {"model": "lstm"}]


@pytest.mark.parametrize("case", MODEL_CASES, ids=lambda c: "-".join(c.values()))
def test_causality_by_brute_force(case, tmp_path):
    config = text_config(write_corpus(str(tmp_path)), **case)
    net, params = tiny_params(config)
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, config.vocab_size, size=(2, 10))
    apply = jax.jit(lambda t: net.apply({"params": params}, t))
    base = np.asarray(apply(tokens))
    for i in range(tokens.shape[1] - 1):
        changed = tokens.copy()
        changed[:, i + 1:] = rng.integers(0, config.vocab_size, size=changed[:, i + 1:].shape)
        out = np.asarray(apply(changed))
        np.testing.assert_allclose(out[:, :i + 1], base[:, :i + 1], atol=1e-5)
        assert not np.allclose(out[:, i + 1:], base[:, i + 1:], atol=1e-5)  # the test can fail


@pytest.mark.parametrize("case", MODEL_CASES + [{"model": "ngram"}],
                         ids=lambda c: "-".join(c.values()))
def test_cached_sampling_equals_uncached(case, tmp_path):
    config = text_config(write_corpus(str(tmp_path)), temperature=0.9, top_k=20, top_p=0.95,
                         repetition_penalty=1.3, no_repeat_ngram=3, prompt="the cat", **case)
    if config.model == "ngram":
        params = {k: jnp.asarray(v) for k, v in steps.ngram_tables(config).items()}
    else:
        params = tiny_params(config)[1]
    draw = {s: jax.jit(functools.partial(sampling.sample_tokens, config, num=3, sampler=s))
            for s in sampling.SAMPLERS}
    key = jax.random.key(3)
    cached, uncached = (np.asarray(draw[s](params, key)) for s in sampling.SAMPLERS)
    np.testing.assert_array_equal(cached, uncached)
    prompt = text_data.encode_prompt(config, "the cat")
    np.testing.assert_array_equal(cached[:, :len(prompt)], np.tile(prompt, (3, 1)))
    assert not np.array_equal(cached, np.asarray(draw["cached"](params, jax.random.key(4))))
    assert cached.min() >= 0 and cached.max() < config.vocab_size


@pytest.mark.parametrize("case", MODEL_CASES[1:], ids=lambda c: "-".join(c.values()))
def test_step_logits_equal_full_forward(case, tmp_path):
    config = text_config(write_corpus(str(tmp_path)), **case)
    net, params = tiny_params(config)
    tokens = jnp.asarray(np.random.default_rng(2).integers(0, config.vocab_size, (2, 9)))
    full = net.apply({"params": params}, tokens)
    cache = net.apply({"params": params}, 2, 9, method="init_cache")
    for t in range(9):
        logits, cache = net.apply({"params": params}, tokens[:, t], t, cache, method="step")
        np.testing.assert_allclose(logits, full[:, t], atol=1e-4)


# ----------------------------------------------------------------- sampling heuristics


def test_repetition_penalty_lowers_seen_tokens_even_with_negative_logits():
    logits = jnp.array([[2.0, -1.0, 0.5, -3.0, 1.0, -0.2]])
    seen = jnp.array([[True, True, False, True, False, False]])
    before = jax.nn.softmax(logits)
    after = jax.nn.softmax(sampling.repetition_penalty(logits, seen, 1.2))
    assert np.all(np.asarray(after[seen] < before[seen]))  # incl. the negative logits -1, -3
    unseen = ~np.asarray(seen[0])
    ratio_before = before[0, unseen] / before[0, unseen][0]
    np.testing.assert_allclose(after[0, unseen] / after[0, unseen][0], ratio_before, rtol=1e-6)
    # The sign error (dividing every logit) raises a negative logit's probability.
    wrong = jax.nn.softmax(jnp.where(seen, logits / 1.2, logits))
    assert wrong[0, 1] > before[0, 1]


def test_no_repeat_ngram_bans_exactly_the_completing_tokens():
    rng = np.random.default_rng(0)
    buffer = rng.integers(0, 4, size=(3, 16))
    vocab, n = 4, 3
    for t in range(16):
        bans = np.asarray(sampling.ngram_bans(jnp.asarray(buffer), t, n, vocab))
        for b in range(3):
            seq = buffer[b, :t + 1].tolist()
            expected = {seq[j + n - 1] for j in range(len(seq) - n + 1)
                        if t - n + 2 >= 0 and seq[j:j + n - 1] == seq[t - n + 2:t + 1]}
            assert set(np.flatnonzero(bans[b]).tolist()) == expected


def test_sample_statistics_count_an_unknown_token_as_one_word():
    # "<unk>" split by the word pattern would be "<", "unk", ">": the bigram
    # "of <unk>" repeated would then make repeated 4-grams.
    text = "A <unk> of <unk> of <unk>.\n\t<unk>"
    words = evaluation.sample_words(text)
    assert words == ["A", "<unk>", "of", "<unk>", "of", "<unk>", ".", "<unk>"]
    # 4-grams: (A <unk> of <unk>) (<unk> of <unk> of) (of <unk> of <unk>)
    # (<unk> of <unk> .) (of <unk> . <unk>): none seen before.
    assert evaluation.repeated_ngram_rate([words], 4) == 0.0
    repeating = "x y z w x y z w x".split()  # 6 4-grams, 2 repeats
    assert evaluation.repeated_ngram_rate([repeating], 4) == pytest.approx(2 / 6)
    # a repeat in another sample is not a repeat
    assert evaluation.repeated_ngram_rate([repeating[:4], repeating[:4]], 4) == 0.0
    assert evaluation.distinct_n([repeating], 1) == pytest.approx(4 / 9)
    assert evaluation.distinct_n([repeating], 2) == pytest.approx(4 / 8)


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = jnp.log(jnp.array([[0.5, 0.05, 0.3, 0.15]]))
    kept = np.asarray(sampling.top_p_filter(logits, 0.8)) > sampling.BANNED
    assert kept.tolist() == [[True, False, True, False]]
    kept = np.asarray(sampling.top_k_filter(logits, 3)) > sampling.BANNED
    assert kept.tolist() == [[True, False, True, True]]


# ----------------------------------------------------------------- perplexity


def test_uniform_model_perplexity_is_the_vocabulary_size(tmp_path):
    path = write_corpus(str(tmp_path), num_docs=80, one_line=True)  # every token is a word
    config = text_config(path)
    family = registry.get("textgen")
    batch = text_data.load(config, "train")
    state = family.init(config, jax.random.key(0), {k: v[:4] for k, v in batch.items()})
    zero = state.replace(params=jax.tree.map(jnp.zeros_like, state.params))  # logits all 0
    run = Run(workdir=str(tmp_path), config=config, family=family, state=zero)
    result = runner.evaluate_nll(run, jax.random.key(0), 10_000)
    test = text_data.load(config, "test")
    assert result["num_words"] == test["num_words"].sum() == test["tokens"][:, 1:].size
    np.testing.assert_allclose(result["ppl_word"], config.vocab_size, rtol=1e-4)


def test_train_sample_text_and_jsonl_with_a_prompt(tmp_path):
    path = write_corpus(str(tmp_path))
    workdir = str(tmp_path / "run")
    overrides = [f"--config.{k}={v}" for k, v in {**SMALL, "dataset": "text_file",
                                                   "text_path": path, "steps": 2,
                                                   "ckpt_every": 2, "eval_every": 2,
                                                   "sample_every": 2, "num_grid": 2}.items()]
    run_cli("train", "textgen", "--workdir", workdir, "--no-progress", *overrides)
    assert os.path.isfile(os.path.join(workdir, "samples", "final.txt"))
    out_txt, out_jsonl = str(tmp_path / "s.txt"), str(tmp_path / "s.jsonl")
    run_cli("sample", "--workdir", workdir, "--num", "3", "--out", out_txt,
            "--config.prompt=the cat")
    run_cli("sample", "--workdir", workdir, "--num", "3", "--out", out_jsonl,
            "--config.prompt=the cat")
    texts = open(out_txt).read().rstrip("\n").split("\n%\n")
    rows = [json.loads(line)["text"] for line in open(out_jsonl)]
    assert len(texts) == 3 and texts == rows
    assert all(t.startswith("the cat") for t in rows)
    bad = run_cli("sample", "--workdir", workdir, "--num", "3", "--out",
                  str(tmp_path / "s.png"), check=False)
    assert bad.returncode == 2 and "samples text" in bad.stderr
