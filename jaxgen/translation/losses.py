"""The translators' objectives, pure functions of networks' outputs.

Pix2Pix (Isola et al. 2017, Eq. 4): G* = arg min_G max_D gan_weight * L_cGAN(G, D)
+ l1_weight * L_L1(G), with D judging (input, output) pairs; gan_weight 0 is
"L1 only" (a regression), l1_weight 0 "cGAN only".

CycleGAN (Zhu et al. 2017, Eq. 3, with the least-squares GAN loss of Sec. 4):
L = L_GAN(G, D_B) + L_GAN(F, D_A) + cycle_weight * (|F(G(a)) - a| + |G(F(b)) - b|)
+ identity_weight * cycle_weight * (|G(b) - b| + |F(a) - a|).

The adversarial terms come from jaxgen.nn.adversarial (shared with the GANs).
"""
from __future__ import annotations

import jax.numpy as jnp

from jaxgen.nn.adversarial import discriminator_loss, generator_loss


def l1(x, y):
    """Mean absolute difference over every element."""
    return jnp.mean(jnp.abs(x - y))


def pix2pix_generator_loss(kind, fake_logits, fake, target, gan_weight, l1_weight):
    """(G's objective, its parts); `fake_logits`: D on (input, G(input))."""
    adversarial = generator_loss(kind, fake_logits) if gan_weight else jnp.zeros(())
    reconstruction = l1(fake, target)
    total = gan_weight * adversarial + l1_weight * reconstruction
    return total, {"g_gan": adversarial, "g_l1": reconstruction}


def pix2pix_discriminator_loss(kind, real_logits, fake_logits):
    """D on (input, truth) against D on (input, G(input)). Pix2pix halves D's
    objective to slow D relative to G; discriminator_loss is a sum of two means."""
    return 0.5 * discriminator_loss(kind, real_logits, fake_logits)


def cycle_loss(a, a_cycled, b, b_cycled):
    """|F(G(a)) - a|_1 + |G(F(b)) - b|_1, each a mean over pixels."""
    return l1(a_cycled, a) + l1(b_cycled, b)


def identity_loss(a, f_of_a, b, g_of_b):
    """|G(b) - b|_1 + |F(a) - a|_1: each generator leaves its own target domain alone."""
    return l1(g_of_b, b) + l1(f_of_a, a)
