"""The character-level row of experiments/results/text.md: interpolated
Kneser-Ney trigram over characters (256 ids) of the fortunes, windows of 256
characters. Nothing to train (the counts are built at init); one step so the
run has a checkpoint.

    nice -n 19 jaxgen train --config experiments/text/ngram_char.py --workdir runs/text_ngram_char
    nice -n 19 jaxgen eval --workdir runs/text_ngram_char --metrics nll,vocabulary --num 100000
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ngram  # noqa: E402


def get_config():
    """ngram.py's run at the character level."""
    c = ngram.get_config()
    c.tokenizer = "char"
    c.vocab_size = 256
    c.seq_len = 256
    return c
