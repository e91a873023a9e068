"""The third LSTM run of experiments/results/text.md: the network and dropout
of lstm.py, with the learning rate of lstm_fast.py (4e-3, which was ahead of
2e-3 at every equal step) and 4000 steps of 16 windows, since both earlier runs
ended under-fitted (lower train than test loss only by a little, test loss
still falling at the end of the decay).

    nice -n 19 jaxgen train --config experiments/text/lstm_long.py --workdir runs/text_lstm3
    nice -n 19 jaxgen eval --workdir runs/text_lstm3 --metrics nll,vocabulary --num 100000
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstm  # noqa: E402


def get_config():
    c = lstm.get_config()
    c.steps = 4000
    c.optim.learning_rate = 4e-3
    c.eval_every = 500
    c.ckpt_every = 250
    return c
