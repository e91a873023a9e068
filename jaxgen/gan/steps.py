"""GAN training: init, the alternating train step, and the held-out eval step.

One TrainState holds both networks: params {"g", "d"}, opt_state {"g", "d"},
ema_params (the generator's moving average, when `ema_decay` > 0) and extra
{"g_batch_stats"} (the DCGAN generator's batch-norm running averages) and
{"d_spectral"} (with `d_spectral_norm`: the power-iteration vectors of D's
weights, spectral.py; every use of D sees its weights divided by their
estimated largest singular values, refreshed once per critic update).

One train_step = `n_critic` discriminator updates, then one generator update,
each with its own key (fold/split of the step key). The real batch of
`batch_size` examples is cut into `n_critic` slices, one per critic update
(as in the WGAN papers, each critic iteration sees fresh data); the generator
update draws batch_size / n_critic latents. With `unroll_steps` = k > 0
(unrolled GAN, Metz et al. 2017) the generator's loss is taken against the
discriminator after k further critic updates computed inside the step and
differentiated through, so G sees how D would react to it; D itself keeps
only its ordinary update.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from jaxgen.engine import optim
from jaxgen.engine.state import TrainState
from jaxgen.gan import losses, spectral
from jaxgen.gan.models import (batch_labels, d_vectors, discriminate, discriminate_packed,
                               example_shape, g_batch_stats, generate, is_points, latents, make_discriminator,
                               make_generator, num_classes, pack_samples, real_examples)

NETWORKS = ("g", "d")


def make_optimizers(config) -> dict:
    """{"g", "d"}: each network's optimizer from its block `optim.g` / `optim.d`.

    D is updated n_critic times per train step, so its warm-up and decay are
    counted in train steps (updates_per_step). The unrolled GAN differentiates
    through D's optimizer updates, which needs the differentiable variant
    (engine.optim.make_optimizer says why); G's optimizer gets it too, as it
    always has, so an unrolled run keeps the optimizer it was trained with.
    """
    unrolled = config.unroll_steps > 0
    per_step = {"g": 1, "d": config.n_critic}
    return {name: optim.make_optimizer(config.optim[name], updates_per_step=per_step[name],
                                       total_steps=config.steps, differentiable=unrolled)
            for name in NETWORKS}


# --------------------------------------------------------------------------- objectives


def critic_objective(config, d_params, g_params, g_stats, real, labels, key, vectors=None):
    """(D's loss on a real slice and as many fresh fakes, metrics); keys: latents,
    dropout on real, dropout on fake, interpolation weights of the penalty.
    Differentiable in g_params as well (the unrolled GAN needs it). `vectors`:
    the spectral-norm vectors (None: D's weights as they are)."""
    k_z, k_real, k_fake, k_gp = jax.random.split(key, 4)
    d_params = spectral.normalise(d_params, vectors)
    fake, _ = generate(config, g_params, g_stats, latents(config, k_z, real.shape[0]), labels,
                       train=True)
    real_out = discriminate(config, d_params, real, labels, k_real, train=True)
    fake_out = discriminate(config, d_params, fake, labels, k_fake, train=True)
    loss = losses.discriminator_loss(config.loss, real_out, fake_out)
    aux = {"d_loss": loss, "d_real": jnp.mean(real_out), "d_fake": jnp.mean(fake_out)}
    if config.gp_weight > 0:
        k_interp, k_drop = jax.random.split(k_gp)
        critic = functools.partial(discriminate_packed, config, d_params, labels=labels,
                                   key=k_drop, train=True)
        penalty = losses.gradient_penalty(critic, pack_samples(real, config.pack),
                                          pack_samples(fake, config.pack), k_interp)
        loss = loss + config.gp_weight * penalty
        aux["gp"] = penalty
    if config.r1_weight > 0:
        # R1 (Mescheder et al. 2018): (gamma / 2) E_real ||grad_x D(x)||^2, dropout on
        # real's key so the penalised function is the one the loss saw.
        critic = functools.partial(discriminate_packed, config, d_params, labels=labels,
                                   key=k_real, train=True)
        r1 = losses.r1_penalty(critic, pack_samples(real, config.pack))
        loss = loss + 0.5 * config.r1_weight * r1
        aux["r1"] = r1
    return loss, aux


def critic_update(config, g_params, g_stats, carry, inputs):
    """One optimizer step of D (params, opt_state, spectral vectors or None) = carry
    on (real, labels, key) = inputs; the vectors get their power iteration first."""
    d_params, d_opt_state, vectors = carry
    real, labels, key = inputs
    if vectors is not None:
        vectors = spectral.power_step(d_params, vectors)
    grads, aux = jax.grad(critic_objective, argnums=1, has_aux=True)(
        config, d_params, g_params, g_stats, real, labels, key, vectors)
    updates, d_opt_state = make_optimizers(config)["d"].update(grads, d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
    if config.clip_value > 0:
        d_params = losses.clip_weights(d_params, config.clip_value)
    return (d_params, d_opt_state, vectors), aux


def unrolled_discriminator(config, d_params, d_opt_state, vectors, g_params, g_stats, real,
                           labels, key):
    """D's (parameters, spectral vectors) after `unroll_steps` more updates against
    the current G, as a differentiable function of g_params (Metz et al. 2017, Eq. 5)."""
    steps = config.unroll_steps
    xs = (jnp.broadcast_to(real, (steps,) + real.shape),
          None if labels is None else jnp.broadcast_to(labels, (steps,) + labels.shape),
          jax.random.split(key, steps))
    update = functools.partial(critic_update, config, g_params, g_stats)
    (d_params, _, vectors), _ = jax.lax.scan(update, (d_params, d_opt_state, vectors), xs)
    return d_params, vectors


def generator_objective(config, g_params, g_stats, d_params, d_opt_state, vectors, real, labels,
                        key):
    """(G's loss on batch_size / n_critic fresh latents, new batch stats)."""
    k_z, k_drop, k_unroll = jax.random.split(key, 3)
    fake, g_stats_new = generate(config, g_params, g_stats,
                                 latents(config, k_z, real.shape[0]), labels, train=True)
    if config.unroll_steps > 0:
        d_params, vectors = unrolled_discriminator(config, d_params, d_opt_state, vectors,
                                                   g_params, g_stats, real, labels, k_unroll)
    fake_out = discriminate(config, spectral.normalise(d_params, vectors), fake, labels, k_drop,
                            train=True)
    return losses.generator_loss(config.loss, fake_out), g_stats_new


# --------------------------------------------------------------------------- steps


def discriminator_steps(config, state, real, labels, key):
    """`n_critic` updates of D only, each on its own slice of the batch. -> (state, metrics)"""
    n = config.n_critic
    slices = real.reshape((n, real.shape[0] // n) + real.shape[1:])  # [n, B / n, ...]
    label_slices = None if labels is None else labels.reshape(n, -1)  # [n, B / n]
    update = functools.partial(critic_update, config, state.params["g"], g_batch_stats(state))
    (d_params, d_opt_state, vectors), aux = jax.lax.scan(
        update, (state.params["d"], state.opt_state["d"], d_vectors(state)),
        (slices, label_slices, jax.random.split(key, n)))
    state = state.replace(params={**state.params, "d": d_params},
                          opt_state={**state.opt_state, "d": d_opt_state},
                          extra=_with_extra(state, d_spectral=vectors))
    return state, jax.tree.map(jnp.mean, aux)  # averaged over the critic updates


def generator_step(config, state, real, labels, key):
    """One update of G only (and its EMA / batch stats). `real` [B / n_critic, ...]
    feeds the unrolled critic steps, if any. -> (state, metrics)"""
    (loss, g_stats), grads = jax.value_and_grad(generator_objective, argnums=1, has_aux=True)(
        config, state.params["g"], g_batch_stats(state), state.params["d"],
        state.opt_state["d"], d_vectors(state), real, labels, key)
    updates, g_opt_state = make_optimizers(config)["g"].update(
        grads, state.opt_state["g"], state.params["g"])
    g_params = optax.apply_updates(state.params["g"], updates)
    ema = state.ema_params
    if config.ema_decay > 0:
        ema = optim.ema_update(ema, g_params, config.ema_decay, state.step,
                               warmup=config.ema_warmup)
    state = state.replace(params={**state.params, "g": g_params},
                          opt_state={**state.opt_state, "g": g_opt_state},
                          ema_params=ema, extra=_with_extra(state, g_batch_stats=g_stats))
    return state, {"g_loss": loss}


def _with_extra(state, **entries):
    """state.extra with `entries` replaced where they are kept (a None entry is
    not kept: the MLP has no batch stats, D without spectral norm no vectors)."""
    extra = dict(state.extra or {})
    extra.update({k: v for k, v in entries.items() if v is not None})
    return extra or None


def train_step(config, state, batch, key):
    """n_critic critic updates, then one generator update. Metrics: d_loss,
    d_real, d_fake (and gp) averaged over the critic updates, g_loss."""
    k_d, k_g = jax.random.split(key)
    real, labels = real_examples(config, batch), batch_labels(config, batch)
    state, d_metrics = discriminator_steps(config, state, real, labels, k_d)
    m = real.shape[0] // config.n_critic
    last = slice(real.shape[0] - m, None)  # the last critic slice, for the unrolled steps
    state, g_metrics = generator_step(config, state, real[last],
                                      None if labels is None else labels[last], k_g)
    return state, {**d_metrics, **g_metrics}


def init(config, key, sample_batch) -> TrainState:
    """Both networks, their optimizer states, G's EMA and batch statistics."""
    k_g, k_d, k_drop = jax.random.split(key, 3)
    real = real_examples(config, sample_batch)
    labels = batch_labels(config, sample_batch)
    first = None if labels is None else labels[:1]
    onehot = None if first is None else jax.nn.one_hot(first, num_classes(config))
    generator = make_generator(config, example_shape(config), tanh_output=not is_points(config))
    g_vars = generator.init(k_g, latents(config, k_g, 1), onehot, train=False)
    d_vars = make_discriminator(config, num_classes(config)).init(
        {"params": k_d, "dropout": k_drop}, pack_samples(real[:config.pack], config.pack),
        first, train=False)
    params = {"g": g_vars["params"], "d": d_vars["params"]}
    extra = {}
    if "batch_stats" in g_vars:
        extra["g_batch_stats"] = g_vars["batch_stats"]
    if config.d_spectral_norm:
        extra["d_spectral"] = spectral.init_vectors(params["d"], jax.random.fold_in(k_d, 1))
    optimizers = make_optimizers(config)
    opt_state = {name: optimizers[name].init(params[name]) for name in NETWORKS}
    ema = jax.tree.map(jnp.copy, params["g"]) if config.ema_decay > 0 else None
    return TrainState.create(params, opt_state, ema_params=ema, extra=extra or None)


def eval_step(config, state, batch, key):
    """D and G losses on a held-out batch (D in inference mode): a D that
    separates test images much better than it is told apart in training is
    memorising the training set."""
    real, labels = real_examples(config, batch), batch_labels(config, batch)
    k_z, k_d = jax.random.split(key)
    fake, _ = generate(config, state.params["g"], g_batch_stats(state),
                       latents(config, k_z, real.shape[0]), labels, train=False)
    d_params = spectral.normalise(state.params["d"], d_vectors(state))
    real_out = discriminate(config, d_params, real, labels, k_d, train=False)
    fake_out = discriminate(config, d_params, fake, labels, k_d, train=False)
    return {"d_loss": losses.discriminator_loss(config.loss, real_out, fake_out),
            "g_loss": losses.generator_loss(config.loss, fake_out),
            "d_real": jnp.mean(real_out), "d_fake": jnp.mean(fake_out)}
