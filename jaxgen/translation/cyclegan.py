"""CycleGAN training: init, the train step (both generators, then both
discriminators on images from the history pools), the eval step.

TrainState.params {"g_ab", "g_ba", "d_a", "d_b"} (G: a -> b, F: b -> a, D_A,
D_B); opt_state {"g": over both generators (optim.g), "d": over both
discriminators (optim.d)}; extra {"pool_a", "pool_b"}: the histories of
generated images (pool.py). The learning rate is constant for the first half
of training and decays linearly to 0 over the second (Zhu et al. 2017,
Sec. 4): the optimizer's updates times `decay_factor`, counted in updates,
which is the step, so a resume is exact.

The losses never read which a goes with which b: a paired source
(edges2fashion) trains it unpaired as well.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxgen import data
from jaxgen.engine import optim
from jaxgen.engine.state import TrainState
from jaxgen.nn.adversarial import discriminator_loss, generator_loss
from jaxgen.translation import losses, pool
from jaxgen.translation.models import make_discriminator, make_generator, to_signed

GENERATORS = ("g_ab", "g_ba")
DISCRIMINATORS = ("d_a", "d_b")


def channels(config, side: str) -> int:
    return data.spec(config).fields[side].shape[-1]


def decay_factor(step, total_steps: int):
    """1 over the first half of training, then linearly to 0 at the end."""
    half = total_steps / 2.0
    t = jnp.asarray(step, jnp.float32)
    return jnp.clip(1.0 - (t - half) / max(half, 1.0), 0.0, 1.0)


def make_optimizers(config) -> dict:
    total = max(config.steps, 1)
    return {n: optax.chain(optim.make_optimizer(config.optim[n], total_steps=total),
                           optax.scale_by_schedule(lambda c: decay_factor(c, total)))
            for n in ("g", "d")}


def generators(config) -> dict:
    return {"g_ab": make_generator(config, channels(config, "b")),
            "g_ba": make_generator(config, channels(config, "a"))}


def translate(config, params, name: str, x):
    """G (name "g_ab") or F ("g_ba") on images [B, H, W, C] in [-1, 1]; no dropout."""
    return generators(config)[name].apply(params[name], x, dropout=False)


def init(config, key, sample_batch) -> TrainState:
    keys = jax.random.split(key, 4)
    a, b = to_signed(sample_batch["a"][:1]), to_signed(sample_batch["b"][:1])
    nets = generators(config)
    d = make_discriminator(config)
    params = {"g_ab": nets["g_ab"].init(keys[0], a), "g_ba": nets["g_ba"].init(keys[1], b),
              "d_a": d.init(keys[2], a), "d_b": d.init(keys[3], b)}
    optimizers = make_optimizers(config)
    opt_state = {"g": optimizers["g"].init({n: params[n] for n in GENERATORS}),
                 "d": optimizers["d"].init({n: params[n] for n in DISCRIMINATORS})}
    extra = {"pool_a": pool.empty_pool(config.pool_size, a.shape[1:]),
             "pool_b": pool.empty_pool(config.pool_size, b.shape[1:])}
    return TrainState.create(params, opt_state, extra=extra)


def g_objective(config, g_params, d_params, a, b):
    """Both generators' objective; aux: its parts and the fakes (for the pools)."""
    params = {**g_params, **d_params}
    d = make_discriminator(config)
    fake_b, fake_a = translate(config, params, "g_ab", a), translate(config, params, "g_ba", b)
    adversarial = (generator_loss("least_squares", d.apply(params["d_b"], fake_b))
                   + generator_loss("least_squares", d.apply(params["d_a"], fake_a)))
    cycle = losses.cycle_loss(a, translate(config, params, "g_ba", fake_b),
                              b, translate(config, params, "g_ab", fake_a))
    total = adversarial + config.cycle_weight * cycle
    parts = {"g_gan": adversarial, "cycle": cycle}
    if config.identity_weight:
        identity = losses.identity_loss(a, translate(config, params, "g_ba", a),
                                        b, translate(config, params, "g_ab", b))
        total = total + config.identity_weight * config.cycle_weight * identity
        parts["identity"] = identity
    return total, ({"g_loss": total, **parts}, (fake_a, fake_b))


def d_objective(config, d_params, a, b, pooled_a, pooled_b):
    """LSGAN for D_A and D_B, each halved (Zhu et al.: D learns slower than G)."""
    d = make_discriminator(config)
    loss_a = 0.5 * discriminator_loss("least_squares", d.apply(d_params["d_a"], a),
                                      d.apply(d_params["d_a"], pooled_a))
    loss_b = 0.5 * discriminator_loss("least_squares", d.apply(d_params["d_b"], b),
                                      d.apply(d_params["d_b"], pooled_b))
    return loss_a + loss_b, {"d_a_loss": loss_a, "d_b_loss": loss_b}


def _update(optimizer, params, opt_state, grads):
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def train_step(config, state, batch, key):
    k_pool_a, k_pool_b = jax.random.split(key)
    a, b = to_signed(batch["a"]), to_signed(batch["b"])  # [B, H, W, C_a], [B, H, W, C_b]
    g_params = {n: state.params[n] for n in GENERATORS}
    d_params = {n: state.params[n] for n in DISCRIMINATORS}
    optimizers = make_optimizers(config)
    grads, (g_metrics, (fake_a, fake_b)) = jax.grad(g_objective, argnums=1, has_aux=True)(
        config, g_params, d_params, a, b)
    g_params, g_opt = _update(optimizers["g"], g_params, state.opt_state["g"], grads)
    pool_a, pooled_a = pool.query(state.extra["pool_a"], fake_a, k_pool_a)
    pool_b, pooled_b = pool.query(state.extra["pool_b"], fake_b, k_pool_b)
    grads, d_metrics = jax.grad(d_objective, argnums=1, has_aux=True)(
        config, d_params, a, b, pooled_a, pooled_b)
    d_params, d_opt = _update(optimizers["d"], d_params, state.opt_state["d"], grads)
    state = state.replace(params={**g_params, **d_params}, opt_state={"g": g_opt, "d": d_opt},
                          extra={"pool_a": pool_a, "pool_b": pool_b})
    return state, {**g_metrics, **d_metrics,
                   "lr_factor": decay_factor(state.step, max(config.steps, 1))}


def eval_step(config, state, batch, key):
    """Cycle reconstruction L1 (in [0, 1] units) of a test batch, both ways."""
    del key
    a, b = to_signed(batch["a"]), to_signed(batch["b"])
    p = state.params
    a_cycled = translate(config, p, "g_ba", translate(config, p, "g_ab", a))
    b_cycled = translate(config, p, "g_ab", translate(config, p, "g_ba", b))
    return {"cycle_a": losses.l1(a_cycled, a) / 2.0, "cycle_b": losses.l1(b_cycled, b) / 2.0}
