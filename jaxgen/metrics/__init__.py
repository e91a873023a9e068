"""Metrics that judge generative models (DESIGN.md, "Metrics")."""
from __future__ import annotations

import math


def bits_per_dim(nats, num_dims: int):
    """Negative log-likelihood in nats per example -> bits per dimension."""
    return nats / (num_dims * math.log(2.0))


__all__ = ["bits_per_dim"]
