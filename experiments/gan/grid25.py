"""Lab-goal configuration on grid25 (experiments/results/gan.md, "Lab goal configuration"): the
ring8 recipe (experiments/gan/ring8.py: hinge GAN with gradient penalty 0.1, Adam lr 2e-3 with
cosine decay, batch 256, generator EMA 0.999) run three times as long, 24000 steps. All 25 modes
and >= 95% high-quality samples in each of seeds 0-9 (96.8% on average).

    nice -n 19 jaxgen train --config experiments/gan/grid25.py --workdir runs/gan/grid25 --config.seed=0
    nice -n 19 jaxgen eval --workdir runs/gan/grid25 --metrics modes --num 2500
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ring8  # noqa: E402


def get_config():
    """The ring8 configuration (experiments/gan/ring8.py) on grid25, 24000 steps."""
    c = ring8.get_config()
    c.dataset = "grid25"
    c.steps = 24000
    c.optim.g.decay_steps = 24000
    c.optim.d.decay_steps = 24000
    return c
