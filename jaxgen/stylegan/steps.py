"""StyleGAN training: init, the alternating train step, the held-out eval step.

TrainState: params {"g": {"mapping", "synthesis"}, "d"}, opt_state {"g", "d"},
ema_params (the generator's moving average, when `ema_decay` > 0) and extra
{"w_avg": [w_dim]}: the running mean of the mapping's outputs, the centre of
the truncation trick, tracked from the raw mapping at every generator update.

One train_step = one discriminator update (non-saturating loss + gamma / 2 R1
on the real batch when r1_gamma > 0), then one generator update, each with its
own keys for latents, style-mixing cutoffs and per-layer noise.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from jaxgen import data
from jaxgen.engine import optim
from jaxgen.engine.state import TrainState
from jaxgen.stylegan import losses
from jaxgen.stylegan.models import (MappingNetwork, ResidualDiscriminator, Synthesis,
                                    from_network_images, network_side, num_resolutions,
                                    num_style_layers, to_network_images)

NETWORKS = ("g", "d")


# --------------------------------------------------------------------------- layout


def image_shape(config) -> tuple:
    return tuple(data.spec(config).image_shape)  # (H, W, C)


def resolutions(config) -> int:
    height, width, _ = image_shape(config)
    return num_resolutions(height, width)


def style_layers(config) -> int:
    return num_style_layers(resolutions(config))


def make_optimizers(config) -> dict:
    return {name: optim.make_optimizer(config.optim[name], total_steps=config.steps)
            for name in NETWORKS}


# --------------------------------------------------------------------------- networks


def map_latents(config, g_params, z):
    """z [B, latent] -> w [B, w_dim]."""
    return MappingNetwork(config.w_dim, config.mapping_depth).apply(
        {"params": g_params["mapping"]}, z)


def synthesize(config, g_params, ws, noise_key):
    """ws [B, L, w_dim] -> images [B, H, W, C] in model space (about [-1, 1]),
    cropped to the dataset's size. noise_key None: no noise inputs."""
    _, _, channels = image_shape(config)
    key = noise_key if config.noise else None
    x = Synthesis(tuple(config.g_channels), channels, config.conv).apply(
        {"params": g_params["synthesis"]}, ws, key)
    return from_network_images(x, image_shape(config)[:2])


def discriminate(config, d_params, images):
    """images [N, H, W, C] in [-1, 1] -> logits [N] (padded to the network side)."""
    height, width, _ = image_shape(config)
    model = ResidualDiscriminator(tuple(config.d_channels), config.conv)
    return model.apply({"params": d_params}, to_network_images(images, network_side(height, width)))


def latents(config, key, num: int):
    return jax.random.normal(key, (num, config.latent_dim))  # [num, latent_dim]


def training_styles(config, g_params, key, num: int):
    """(ws [num, L, w_dim] with style-mixing regularisation, first w [num, w_dim])."""
    k_z1, k_z2, k_cut = jax.random.split(key, 3)
    layers = style_layers(config)
    w1 = map_latents(config, g_params, latents(config, k_z1, num))
    if config.style_mixing <= 0:
        return jnp.broadcast_to(w1[:, None], (num, layers, w1.shape[-1])), w1
    w2 = map_latents(config, g_params, latents(config, k_z2, num))
    cutoff = losses.mixing_cutoffs(k_cut, num, layers, config.style_mixing)
    return losses.mix_styles(w1, w2, cutoff, layers), w1


def real_images(batch):
    return batch["image"].astype(jnp.float32) / 127.5 - 1.0  # uint8 -> [-1, 1]


# --------------------------------------------------------------------------- objectives


def discriminator_objective(config, d_params, g_params, real, key):
    k_style, k_noise = jax.random.split(key)
    ws, _ = training_styles(config, g_params, k_style, real.shape[0])
    fake = jax.lax.stop_gradient(synthesize(config, g_params, ws, k_noise))
    critic = functools.partial(discriminate, config, d_params)
    real_out, fake_out = critic(real), critic(fake)
    loss = losses.discriminator_loss(config.loss, real_out, fake_out)
    aux = {"d_loss": loss, "d_real": jnp.mean(real_out), "d_fake": jnp.mean(fake_out)}
    if config.r1_gamma > 0:
        r1 = losses.r1_penalty(critic, real)
        loss = loss + 0.5 * config.r1_gamma * r1
        aux["r1"] = r1
    return loss, aux


def generator_objective(config, g_params, d_params, num: int, key):
    k_style, k_noise = jax.random.split(key)
    ws, w = training_styles(config, g_params, k_style, num)
    fake = synthesize(config, g_params, ws, k_noise)
    loss = losses.generator_loss(config.loss, discriminate(config, d_params, fake))
    return loss, w


def discriminator_step(config, state, real, key):
    grads, aux = jax.grad(discriminator_objective, argnums=1, has_aux=True)(
        config, state.params["d"], state.params["g"], real, key)
    updates, d_opt = make_optimizers(config)["d"].update(
        grads, state.opt_state["d"], state.params["d"])
    d_params = optax.apply_updates(state.params["d"], updates)
    return state.replace(params={**state.params, "d": d_params},
                         opt_state={**state.opt_state, "d": d_opt}), aux


def generator_step(config, state, num: int, key):
    """One update of G, its EMA and the tracked mean w (with the EMA warm-up
    min(decay, (1 + t) / (10 + t)), so w_avg is not pulled towards its zero start)."""
    (loss, w), grads = jax.value_and_grad(generator_objective, argnums=1, has_aux=True)(
        config, state.params["g"], state.params["d"], num, key)
    updates, g_opt = make_optimizers(config)["g"].update(
        grads, state.opt_state["g"], state.params["g"])
    g_params = optax.apply_updates(state.params["g"], updates)
    ema = state.ema_params
    if config.ema_decay > 0:
        ema = optim.ema_update(ema, g_params, config.ema_decay)
    decay = optim.ema_decay_at(config.w_avg_decay, state.step, warmup=True)
    w_avg = losses.track_w_avg(state.extra["w_avg"], jax.lax.stop_gradient(w), decay)
    state = state.replace(params={**state.params, "g": g_params},
                          opt_state={**state.opt_state, "g": g_opt},
                          ema_params=ema, extra={"w_avg": w_avg})
    return state, {"g_loss": loss}


def train_step(config, state, batch, key):
    """One D update, then one G update. Metrics: d_loss, d_real, d_fake, (r1), g_loss."""
    k_d, k_g = jax.random.split(key)
    real = real_images(batch)
    state, d_metrics = discriminator_step(config, state, real, k_d)
    state, g_metrics = generator_step(config, state, real.shape[0], k_g)
    return state, {**d_metrics, **g_metrics}


def init_params(config, key) -> dict:
    """{"g": {"mapping", "synthesis"}, "d"}: fresh parameters of both networks."""
    k_map, k_syn, k_d, k_noise = jax.random.split(key, 4)
    height, width, channels = image_shape(config)
    z = latents(config, k_map, 1)
    mapping = MappingNetwork(config.w_dim, config.mapping_depth).init(k_map, z)["params"]
    ws = jnp.zeros((1, style_layers(config), config.w_dim))
    synthesis = Synthesis(tuple(config.g_channels), channels, config.conv).init(
        k_syn, ws, k_noise if config.noise else None)["params"]
    side = network_side(height, width)
    d_params = ResidualDiscriminator(tuple(config.d_channels), config.conv).init(
        k_d, jnp.zeros((1, side, side, channels)))["params"]
    return {"g": {"mapping": mapping, "synthesis": synthesis}, "d": d_params}


def init(config, key, sample_batch) -> TrainState:
    """Both networks (initialised in one jitted call: op-by-op initialisation of
    the many small layers costs more than compiling them), their optimizer
    states, G's EMA and w_avg = 0."""
    del sample_batch  # every shape comes from the dataset's spec
    params = jax.jit(functools.partial(init_params, config))(key)
    optimizers = make_optimizers(config)
    opt_state = {name: optimizers[name].init(params[name]) for name in NETWORKS}
    ema = jax.tree.map(jnp.copy, params["g"]) if config.ema_decay > 0 else None
    extra = {"w_avg": jnp.zeros((config.w_dim,), jnp.float32)}
    return TrainState.create(params, opt_state, ema_params=ema, extra=extra)


def eval_step(config, state, batch, key):
    """D and G losses on a held-out batch (no mixing, no R1)."""
    real = real_images(batch)
    k_z, k_noise = jax.random.split(key)
    g = state.params["g"]
    w = map_latents(config, g, latents(config, k_z, real.shape[0]))
    ws = jnp.broadcast_to(w[:, None], (w.shape[0], style_layers(config), w.shape[-1]))
    fake = synthesize(config, g, ws, k_noise)
    real_out = discriminate(config, state.params["d"], real)
    fake_out = discriminate(config, state.params["d"], fake)
    return {"d_loss": losses.discriminator_loss(config.loss, real_out, fake_out),
            "g_loss": losses.generator_loss(config.loss, fake_out),
            "d_real": jnp.mean(real_out), "d_fake": jnp.mean(fake_out)}
