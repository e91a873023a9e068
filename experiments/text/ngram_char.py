"""The character-level row of experiments/results/text.md: interpolated
Kneser-Ney trigram over characters (256 ids) of the fortunes, windows of 256
characters. Nothing to train (the counts are built at init); one step so the
run has a checkpoint.

    nice -n 19 jaxgen train --config experiments/text/ngram_char.py --workdir runs/text_ngram_char
    nice -n 19 jaxgen eval --workdir runs/text_ngram_char --metrics nll,vocabulary --num 100000
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "textgen"
    c.model = "ngram"
    c.dataset = "fortunes"
    c.tokenizer = "char"
    c.vocab_size = 256
    c.seq_len = 256
    c.batch_size = 16
    c.steps = 1
    c.log_every = 1
    c.eval_every = 1
    c.sample_every = 1
    c.ckpt_every = 1
    c.seed = 0
    return c
