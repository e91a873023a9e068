"""Pure objectives of the denoising diffusion GAN (Xiao et al. 2022).

Levels are the diffusion package's (schedules.py): t = 0 .. T-1, level -1 the
clean data. For a data batch x0 and a level t per example:

  real pair   x_{t-1} ~ q(x_{t-1} | x0), then x_t ~ q(x_t | x_{t-1}): one chain,
              so (x_{t-1}, x_t) is a draw of the forward process's joint
  fake pair   x0' = G(x_t, t, z), then x'_{t-1} ~ q(x_{t-1} | x_t, x0') (the
              posterior, the diffusion package's ancestral step), with the
              same x_t: D judges (x_{t-1}, x_t, t) against (x'_{t-1}, x_t, t)
  losses      non-saturating (jaxgen/nn/adversarial.py), and R1 on the real
              x_{t-1}: gamma / 2 * E ||grad_{x_{t-1}} D(x_{t-1}, x_t, t)||^2

At t = 0 the posterior is a point mass on x0' and the real x_{t-1} is x0, so
with T = 1 this is a GAN on x0 conditioned on the noised x_0.

Every random draw is an argument (`ChainNoise`), so a test can hold it fixed.
"""
from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from jaxgen.diffusion import samplers, schedules
from jaxgen.nn.adversarial import discriminator_loss, generator_loss

LOSS = "non_saturating"


class ChainNoise(flax.struct.PyTreeNode):
    """The draws of one adversarial update: levels t [B], the noises of the real
    pair (eps_prev, eps_step, like x0), the latents z [B, Z] and the posterior's
    noise (like x0)."""

    t: jnp.ndarray
    eps_prev: jnp.ndarray
    eps_step: jnp.ndarray
    z: jnp.ndarray
    posterior: jnp.ndarray


def draw_chain_noise(key, x0, num_timesteps: int, latent_dim: int) -> ChainNoise:
    k_t, k_prev, k_step, k_z, k_post = jax.random.split(key, 5)
    shape = x0.shape
    return ChainNoise(t=jax.random.randint(k_t, (shape[0],), 0, num_timesteps),
                      eps_prev=jax.random.normal(k_prev, shape, x0.dtype),
                      eps_step=jax.random.normal(k_step, shape, x0.dtype),
                      z=jax.random.normal(k_z, (shape[0], latent_dim), x0.dtype),
                      posterior=jax.random.normal(k_post, shape, x0.dtype))


def real_pair(schedule, x0, t, eps_prev, eps_step):
    """(x_{t-1}, x_t) of one forward chain: x_{t-1} = q_sample(x0, t - 1) and
    x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps_step (x_{t-1} = x0 at t = 0)."""
    t_prev = t - 1
    x_prev = schedules.q_sample(schedule, x0, t_prev, eps_prev)
    beta = schedules.step_beta(schedule, t, t_prev, x0)
    return x_prev, jnp.sqrt(1.0 - beta) * x_prev + jnp.sqrt(beta) * eps_step


def posterior_draw(schedule, x0_pred, x_t, t, noise):
    """x_{t-1} ~ q(x_{t-1} | x_t, x0_pred), the diffusion package's ancestral step
    with the posterior variance beta_tilde; at t = 0 exactly x0_pred."""
    x_prev, _, _ = samplers.reverse_step(schedule, x_t, x0_pred, None, t, t - 1, noise,
                                         sampler="ddpm", posterior_variance="beta_tilde")
    return x_prev


def chain_inputs(generate_fn, schedule, x0, noise: ChainNoise) -> dict:
    """What D sees in one update: the real x_{t-1}, the fake x'_{t-1}, their shared
    x_t and t (and G's x0'). generate_fn(x_t, t, z) -> x0'."""
    x_prev, x_t = real_pair(schedule, x0, noise.t, noise.eps_prev, noise.eps_step)
    x0_fake = generate_fn(x_t, noise.t, noise.z)
    fake_prev = posterior_draw(schedule, x0_fake, x_t, noise.t, noise.posterior)
    return {"real_prev": x_prev, "fake_prev": fake_prev, "x_t": x_t, "t": noise.t,
            "x0_fake": x0_fake}


def r1_penalty(critic_fn, real):
    """E ||grad_x D(x)||^2 over the batch at the real inputs (Mescheder et al. 2018).
    critic_fn must treat examples independently (no batch norm)."""
    grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(real)  # [B, ...]
    return jnp.mean(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=1))


def discriminator_objective(discriminate_fn, inputs: dict, r1_gamma: float):
    """(D's loss: non-saturating + gamma / 2 * R1 on the real x_{t-1}, metrics).
    discriminate_fn(x_prev, x_t, t) -> logits [B]; the fake is a constant here."""
    x_t, t = inputs["x_t"], inputs["t"]
    real_logits = discriminate_fn(inputs["real_prev"], x_t, t)
    fake_logits = discriminate_fn(jax.lax.stop_gradient(inputs["fake_prev"]), x_t, t)
    loss = discriminator_loss(LOSS, real_logits, fake_logits)
    aux = {"d_loss": loss, "d_real": jnp.mean(real_logits), "d_fake": jnp.mean(fake_logits)}
    if r1_gamma > 0:
        r1 = r1_penalty(lambda x: discriminate_fn(x, x_t, t), inputs["real_prev"])
        loss = loss + 0.5 * r1_gamma * r1
        aux["r1"] = r1
    return loss, aux


def generator_objective(discriminate_fn, inputs: dict):
    """G's non-saturating loss on its x'_{t-1} (differentiable through G's x0')."""
    return generator_loss(LOSS, discriminate_fn(inputs["fake_prev"], inputs["x_t"],
                                                inputs["t"]))
