"""Trilemma entry `pixelcnn`: plain PixelCNN, 256-way softmax.
Starting point: experiments/autoregressive/plain_pixelcnn.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _start import starting_point  # noqa: E402

STEPS_PER_SEC = 1.04
RATE_SOURCE = "experiments/autoregressive/plain_pixelcnn.py: 500 steps in ~8 min on the shared CPU"
SCHEDULE = {"optim.decay_steps": 1.0}   # the cosine decay spans the run

def get_config():
    c = starting_point("autoregressive/plain_pixelcnn.py")
    return c
