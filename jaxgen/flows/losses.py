"""The flows' objective: log-likelihoods in nats per example.

  images (uint8 [B, H, W, C]): log p_flow(logit(dequantized x)) + log-dets
          - D log 256 - log q(u | x), D = H * W * C: a lower bound on the
          discrete log-likelihood (dequantization.py), one noise draw; the
          noise u is uniform (log q = 0) or, with `dequantization=variational`,
          drawn from a learned q(u | x) trained jointly with the flow;
  2-D points ([B, 2]): log p(x), exact.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from jaxgen import data, metrics
from jaxgen.flows import dequantization as deq
from jaxgen.flows.models import POINT_SHAPE, make_dequantizer, make_flow, uses_points
from jaxgen.nn.distributions import standard_normal_log_prob


def uses_variational_dequantization(config) -> bool:
    return config.dequantization == "variational"  # images only (family.validate)


def split_params(config, params):
    """(the flow's params, the dequantizer's or None): with variational
    dequantization the trained params are {"flow": ..., "dequantizer": ...}."""
    if uses_variational_dequantization(config):
        return params["flow"], params["dequantizer"]
    return params, None


def variables(params, extra):
    """Linen variables: trainable params plus fixed constants (the 1x1 convs' P and sign)."""
    return {"params": params, **(extra or {})}


def as_points(points):
    return points.reshape(points.shape[0], *POINT_SHAPE)  # [B, 2] -> [B, 1, 1, 2]


def flow_log_prob(config, flow_params, extra, x):
    """log p(x) of flow inputs x [B, H, W, C] under the flow and its N(0, I) prior. [B]"""
    z, log_det = make_flow(config).apply(variables(flow_params, extra), x)  # z [B, D]
    return standard_normal_log_prob(z) + log_det


def dequantization_noise(config, deq_params, pixels, key):
    """(noise u in [0, 1) like pixels, log q(u | x) [B] or 0 for uniform noise)."""
    if deq_params is None:
        return jax.random.uniform(key, pixels.shape), 0.0
    return make_dequantizer(config).apply({"params": deq_params}, pixels,
                                          jax.random.normal(key, pixels.shape))


def log_likelihood_from_params(config, params, extra, batch, key):
    """Nats per example: exact for 2-D points, the dequantization bound for images. [B]"""
    if uses_points(config):
        return flow_log_prob(config, params, extra, as_points(batch["point"]))
    pixels = batch["image"]  # uint8 [B, H, W, C]
    flow_params, deq_params = split_params(config, params)
    noise, log_q = dequantization_noise(config, deq_params, pixels, key)
    return deq.discrete_log_likelihood_bound(
        functools.partial(flow_log_prob, config, flow_params, extra), pixels, noise,
        config.logit_alpha, log_q)


def loss_fn(config, params, extra, batch, key):
    """(mean NLL in nats per example, metrics); `key` draws the dequantization noise.
    Images also log bits/dim over their H * W * C values."""
    loss = jnp.mean(-log_likelihood_from_params(config, params, extra, batch, key))
    out = {"loss": loss}
    if not uses_points(config):
        out["bpd"] = metrics.bits_per_dim(loss, math.prod(data.image_shape(config)))
    return loss, out
