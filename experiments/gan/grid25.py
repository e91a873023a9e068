"""Best configuration of the mode-collapse lab on grid25 (experiments/results/gan.md): WGAN-GP
with the lab's MLPs (penalty 0.1, 5 critic updates of 64 points, cosine learning-rate decay).

    nice -n 19 jaxgen train --config experiments/gan/grid25.py --workdir runs/gan/grid25 --config.seed=0
    nice -n 19 jaxgen eval --workdir runs/gan/grid25 --metrics modes --num 2500
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ring8  # noqa: E402


def get_config():
    """The ring8 configuration (experiments/gan/ring8.py) on grid25."""
    c = ring8.get_config()
    c.dataset = "grid25"
    return c
