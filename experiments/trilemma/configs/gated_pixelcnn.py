"""Trilemma entry `gated_pixelcnn`: Gated PixelCNN, discretized logistic mixture.
Starting point: experiments/autoregressive/gated_pixelcnn.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 0.83
RATE_SOURCE = "experiments/autoregressive/gated_pixelcnn.py: 1500 steps in ~30 min on the shared CPU"
SCHEDULE = {"optim.decay_steps": 1.0}   # the cosine decay spans the run

def get_config():
    c = starting_point("autoregressive/gated_pixelcnn.py")
    return c
