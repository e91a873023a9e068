"""PixelRNN with Diagonal BiLSTM layers: the Row LSTM configuration
(experiments/autoregressive/pixelrnn.py) with rnn = "diagonal". It has no
cached sampler, so sampling is naive (one forward pass per pixel).

    nice -n 19 jaxgen train --config experiments/autoregressive/pixelrnn_diagonal.py --workdir runs/ar_diagonal
    nice -n 19 jaxgen eval --workdir runs/ar_diagonal --metrics bpd --num 10000
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pixelrnn  # noqa: E402


def get_config():
    """The Row LSTM configuration with Diagonal BiLSTM layers."""
    c = pixelrnn.get_config()
    c.rnn = "diagonal"
    c.sampler = "naive"  # the Diagonal BiLSTM has no cached sampler
    return c
