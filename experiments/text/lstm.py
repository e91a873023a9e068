"""The LSTM row of experiments/results/text.md: embedding 128, two LSTM layers
of 256, a projection to 128 tied to the embedding, dropout 0.1, on the
fortunes (word level, 10,000 words, windows of 64), 2500 steps of 16 windows
with AdamW.

    nice -n 19 jaxgen train --config experiments/text/lstm.py --workdir runs/text_lstm
    nice -n 19 jaxgen eval --workdir runs/text_lstm --metrics nll --num 100000
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "textgen"
    c.model = "lstm"
    c.dataset = "fortunes"
    c.tokenizer = "word"
    c.vocab_size = 10000
    c.seq_len = 64
    c.embed_dim = 128
    c.num_layers = 2
    c.hidden = 256
    c.dropout = 0.1
    c.batch_size = 16
    c.steps = 2500
    c.optim = ml_collections.ConfigDict()
    c.optim.learning_rate = 2e-3
    c.optim.warmup_steps = 100
    c.log_every = 50
    c.eval_every = 250
    c.sample_every = 1000
    c.ckpt_every = 500
    c.seed = 0
    return c
