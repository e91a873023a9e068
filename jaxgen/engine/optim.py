"""The one optimizer factory and the one weight average (DESIGN.md, "Training parts").

A run's optimizer is described by a nested `optim` config block; families
with several networks nest one block per network (`optim.g`, `optim.d`):

    name               adam | adamw | rmsprop | sgd
    learning_rate      peak learning rate
    b1, b2, eps        Adam moments (rmsprop: `rmsprop_decay`, eps)
    eps_root           added inside Adam's square root (0: as in the paper)
    weight_decay       decoupled (AdamW) decay; > 0 needs name adamw
    warmup_steps       linear warm-up from 0 over these train steps
    schedule           after the warm-up: constant | cosine | linear (to
                       final_lr_fraction * learning_rate over decay_steps)
    decay_steps        length of the decay in train steps (0: the run's `steps`)
    final_lr_fraction  where cosine / linear decay ends, as a fraction of the peak
    grad_clip_norm     clip the global gradient norm first (0: no clipping)

The chain holds only the parts a config asks for (a bare `optax.adam(lr)`
when nothing else is set), so an optimizer's state has the same structure
as those the families built by hand before this module existed.
"""
from __future__ import annotations

import jax
import ml_collections
import optax

from jaxgen.errors import ConfigError

NAMES = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine", "linear")


def optim_config(**values) -> ml_collections.ConfigDict:
    """An `optim` block: the defaults below, updated by a family's `values`."""
    c = ml_collections.ConfigDict()
    c.name = "adam"
    c.learning_rate = 1e-3
    c.b1 = 0.9
    c.b2 = 0.999
    c.eps = 1e-8
    c.eps_root = 0.0
    c.rmsprop_decay = 0.9
    c.weight_decay = 0.0
    c.warmup_steps = 0
    c.schedule = "constant"
    c.decay_steps = 0
    c.final_lr_fraction = 0.0
    c.grad_clip_norm = 0.0
    for key, value in values.items():
        if key not in c:
            raise KeyError(f"unknown optim key {key!r}")
        c[key] = value
    return c


def validate(oc, where: str = "optim") -> None:
    """Refuse values no optimizer can use, naming the key (e.g. `optim.g.b1`)."""
    def bad(key, message):
        raise ConfigError(f"{where}.{key} {message}, got {oc[key]!r}")

    if oc.name not in NAMES:
        bad("name", f"must be one of {NAMES}")
    if oc.schedule not in SCHEDULES:
        bad("schedule", f"must be one of {SCHEDULES}")
    if not oc.learning_rate > 0:  # also refuses NaN
        bad("learning_rate", "must be > 0")
    for key in ("b1", "b2", "rmsprop_decay"):
        if not 0.0 <= oc[key] < 1.0:
            bad(key, "must be in [0, 1)")
    for key in ("eps", "eps_root", "weight_decay", "grad_clip_norm"):
        if not oc[key] >= 0:
            bad(key, "must be >= 0")
    for key in ("warmup_steps", "decay_steps"):
        if oc[key] < 0:
            bad(key, "must be >= 0")
    if not 0.0 <= oc.final_lr_fraction <= 1.0:
        bad("final_lr_fraction", "must be in [0, 1]")
    if oc.weight_decay > 0 and oc.name != "adamw":
        bad("weight_decay", f"needs name adamw (decoupled decay); name is {oc.name!r}")


def learning_rate(oc, updates_per_step: int = 1, total_steps: int = 0):
    """A float, or an optax schedule over optimizer updates.

    `updates_per_step`: updates of this optimizer per train step (a critic
    updated n_critic times per step), so warm-up and decay are in train steps.
    """
    peak, k = oc.learning_rate, updates_per_step
    warmup = oc.warmup_steps * k
    if oc.schedule == "constant":
        return optax.linear_schedule(0.0, peak, warmup) if warmup else peak
    decay_steps = (oc.decay_steps or total_steps) * k
    if decay_steps < 1:
        raise ConfigError(f"schedule {oc.schedule!r} needs decay_steps >= 1 (or steps >= 1)")
    end = oc.final_lr_fraction * peak
    if oc.schedule == "cosine":
        decay = optax.cosine_decay_schedule(peak, decay_steps, alpha=oc.final_lr_fraction)
    else:
        decay = optax.linear_schedule(peak, end, decay_steps)
    if not warmup:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), decay], [warmup])


def make_optimizer(oc, updates_per_step: int = 1, total_steps: int = 0,
                   differentiable: bool = False) -> optax.GradientTransformation:
    """The optax transformation an `optim` block describes.

    differentiable=True: the update itself is differentiated through (an
    unrolled GAN's look-ahead critic steps). sqrt(v) has an infinite
    derivative where a gradient is exactly 0 (dead units), so a small
    constant goes inside the square root there.
    """
    lr = learning_rate(oc, updates_per_step, total_steps)
    if oc.name in ("adam", "adamw"):
        eps_root = oc.eps_root or (1e-12 if differentiable else 0.0)
        kwargs = dict(b1=oc.b1, b2=oc.b2, eps=oc.eps, eps_root=eps_root)
        opt = (optax.adamw(lr, weight_decay=oc.weight_decay, **kwargs) if oc.name == "adamw"
               else optax.adam(lr, **kwargs))
    elif oc.name == "rmsprop":
        opt = optax.rmsprop(lr, decay=oc.rmsprop_decay, eps=oc.eps, eps_in_sqrt=differentiable)
    else:
        opt = optax.sgd(lr)
    if oc.grad_clip_norm > 0:
        return optax.chain(optax.clip_by_global_norm(oc.grad_clip_norm), opt)
    return opt


def ema_decay_at(decay: float, step=None, warmup: bool = False):
    """The decay of one EMA update; with warm-up min(decay, (1 + t) / (10 + t)),
    so early on the average follows the fast-moving weights instead of
    remembering the initialisation."""
    if not warmup or step is None:
        return decay
    import jax.numpy as jnp
    return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


def ema_update(average, new, decay, step=None, warmup: bool = False):
    """decay * average + (1 - decay) * new, leaf by leaf."""
    d = ema_decay_at(decay, step, warmup)
    return jax.tree.map(lambda a, p: d * a + (1.0 - d) * p, average, new)
