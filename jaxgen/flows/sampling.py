"""Sampling of the realnvp / glow families: the inverse flow of Gaussian latents."""
from __future__ import annotations

import math

import jax

from jaxgen.flows import dequantization as deq
from jaxgen.flows.losses import split_params, variables
from jaxgen.flows.models import data_shape, make_flow, uses_points


def sample(config, state, key, num: int, cond=None):
    """z ~ N(0, temperature^2 I) pushed through the inverse flow: images
    [num, H, W, C] in [0, 1] (8-bit values / 255), or points [num, 2] for 2-D
    data. The flows are unconditional (engine.run refuses a `cond`)."""
    del cond
    shape = data_shape(config)
    z = config.temperature * jax.random.normal(key, (num, math.prod(shape)))
    flow_params, _ = split_params(config, state.params)
    x, _ = make_flow(config).apply(variables(flow_params, state.extra), z, inverse=True)
    if uses_points(config):
        return x.reshape(num, 2)
    return deq.flow_output_to_unit(x, config.logit_alpha)
