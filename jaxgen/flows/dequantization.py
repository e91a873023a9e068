"""From 8-bit pixels to the real line and back: uniform dequantization and the
logit transform, with every log-determinant accounted for.

A flow is a density on R^D; pixels x are integers in {0, ..., 255}^D. With
u ~ U[0, 1)^D, y = (x + u) / 256 lies in the pixel's bin, and for any density
p on [0, 1)^D with P(x) = integral of p over the bin of x (volume 256^-D):

    log P(x) >= E_u[ log p(y) ] - D log 256                      (Jensen)

so minus the right-hand side, in nats, upper-bounds the discrete NLL and is
comparable with the VAE's discretized-logistic bound and with PixelCNN.
D = H * W * C: every channel value of an image is one dimension.
The flow models the logit of y squeezed into [alpha, 1 - alpha]:

    z = logit(alpha + (1 - 2 alpha) y),
    log p(y) = log p_flow(z) + sum log (1 - 2 alpha) / (q (1 - q)),  q = alpha + (1 - 2 alpha) y.

Variational dequantization (Flow++, Ho et al. 2019) draws u from a learned
q(u | x) instead of U[0, 1) and the same argument gives

    log P(x) >= E_{u ~ q(u|x)}[ log p(y) - log q(u | x) ] - D log 256,

which is the uniform bound when q is uniform (log q = 0) and tighter when q
puts its mass where p does. `VariationalDequantizer` makes q a conditional
flow of Gaussian noise, so u and log q(u | x) come out together.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.flows.layers import CheckerboardCoupling, affine, make_conditioner, sum_per_example
from jaxgen.nn.distributions import standard_normal_log_prob

NUM_BINS = 256


def uniform_dequantize(pixels, noise):
    """uint8 [B, ...] and noise U[0, 1) of the same shape -> y = (x + u) / 256 in [0, 1)."""
    return (pixels.astype(jnp.float32) + noise) / NUM_BINS


def logit_transform(y, alpha: float, inverse: bool = False):
    """y in [0, 1] -> z = logit(alpha + (1 - 2 alpha) y) and log|dz/dy| per example
    (inverse: z -> y and log|dy/dz|)."""
    if inverse:
        z = y
        log_q, log_1mq = -jax.nn.softplus(-z), -jax.nn.softplus(z)  # log q, log(1 - q)
        y = (jnp.exp(log_q) - alpha) / (1 - 2 * alpha)
        return y, sum_per_example(log_q + log_1mq - math.log(1 - 2 * alpha))
    q = alpha + (1 - 2 * alpha) * y
    log_q, log_1mq = jnp.log(q), jnp.log1p(-q)
    return log_q - log_1mq, sum_per_example(math.log(1 - 2 * alpha) - log_q - log_1mq)


def pixels_to_flow_input(pixels, noise, alpha: float):
    """uint8 images and U[0, 1) noise -> (flow input z, log|dz/dy| per image [B])."""
    y = uniform_dequantize(pixels, noise)
    z, log_det = logit_transform(y, alpha)
    return z, log_det


def discrete_log_likelihood_bound(log_density_of_logits, pixels, noise, alpha: float,
                                  log_q=0.0):
    """The lower bound above with one noise draw, nats per image. [B]

    `log_density_of_logits(z) -> log p_flow(z)` per example; `noise` [B, ...] in
    [0, 1) is the dequantization noise u and `log_q` [B] its log-density under
    q(u | x) (0 for uniform noise).
    """
    z, log_det_logit = pixels_to_flow_input(pixels, noise, alpha)
    num_dims = math.prod(pixels.shape[1:])
    return log_density_of_logits(z) + log_det_logit - num_dims * math.log(NUM_BINS) - log_q


class VariationalDequantizer(nn.Module):
    """q(u | x): noise u in (0, 1)^D for the pixels x, with log q(u | x) per image.

        eps ~ N(0, I)                                            [B, H, W, C]
        h = couplings(eps * exp(s(x)) + m(x); context x)         (an invertible map of eps)
        u = sigmoid(h)
        log q(u | x) = log N(eps; 0, I) - log|det dh/deps| - sum log sigmoid'(h)

    The elementwise affine map gives every pixel its own mean and spread; the
    checkerboard couplings (conditioned on x as well) let neighbouring noise
    values depend on each other. Every conditioner's last layer starts at zero,
    so at initialisation u = sigmoid(eps): a logistic-normal q.
    """

    hidden: int
    num_blocks: int = 1
    num_couplings: int = 2
    conv: str = "flax"  # fast_conv.conv3x3 choice, as in the flow's conditioners

    @nn.compact
    def __call__(self, pixels, eps):
        """uint8 pixels and N(0, I) noise eps, both [B, H, W, C] -> (u, log q(u | x) [B])."""
        context = pixels.astype(jnp.float32) / 127.5 - 1.0                 # [B, H, W, C]
        log_scale, shift = make_conditioner("conv", self.hidden, self.num_blocks,
                                            eps.shape[-1], self.conv)(context)
        h, log_det = affine(eps, log_scale, shift, inverse=False)
        for i in range(self.num_couplings):
            h, coupling_log_det = CheckerboardCoupling(
                parity=i % 2, hidden=self.hidden, num_blocks=self.num_blocks,
                conv=self.conv)(h, context=context)
            log_det = log_det + coupling_log_det
        log_sigmoid_slope = -jax.nn.softplus(-h) - jax.nn.softplus(h)     # log u (1 - u)
        log_normal = standard_normal_log_prob(eps.reshape(eps.shape[0], -1))  # [B]
        return jax.nn.sigmoid(h), log_normal - log_det - sum_per_example(log_sigmoid_slope)


def flow_output_to_unit(z, alpha: float):
    """Inverse of the pre-processing for samples: logits -> 8-bit images shown in [0, 1].

    y = (x + u) / 256, so the pixel value is floor(256 y); clipping first keeps
    samples that land outside [0, 1) in the end bins.
    """
    y, _ = logit_transform(z, alpha, inverse=True)
    pixels = jnp.floor(jnp.clip(y, 0.0, 1.0 - 1e-7) * NUM_BINS)
    return pixels / (NUM_BINS - 1)
