"""Trilemma entry `pixelrnn`: PixelRNN (Row LSTM), discretized logistic mixture.
Starting point: experiments/autoregressive/pixelrnn.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 1.04
RATE_SOURCE = "experiments/autoregressive/pixelrnn.py: 500 steps in ~8 min on the shared CPU"
SCHEDULE = {"optim.decay_steps": 1.0}   # the cosine decay spans the run

def get_config():
    c = starting_point("autoregressive/pixelrnn.py")
    return c
