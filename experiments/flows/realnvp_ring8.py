"""RealNVP on the 2-D toy distribution `ring8`: 8 affine couplings with
alternating halves and MLP conditioners; density heat-map via `pictures`.

    nice -n 19 jaxgen train --config experiments/flows/realnvp_ring8.py --workdir runs/flows/realnvp_ring8
    nice -n 19 jaxgen eval --workdir runs/flows/realnvp_ring8 --metrics nll,pictures --num 10000
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realnvp_moons  # noqa: E402


def get_config():
    """The moons configuration (realnvp_moons.py) on ring8."""
    c = realnvp_moons.get_config()
    c.dataset = "ring8"
    return c
