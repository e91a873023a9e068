"""engine/optim.py: the one optimizer factory, its schedules, and the one EMA."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgen.engine import optim
from jaxgen.errors import ConfigError

PARAMS = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}


def schedule_values(oc, steps, **kwargs):
    lr = optim.learning_rate(oc, **kwargs)
    return np.array([lr(s) if callable(lr) else lr for s in steps], np.float64)


def test_defaults_give_bare_adam_with_the_same_state_structure():
    oc = optim.optim_config(learning_rate=3e-4)
    ours, theirs = optim.make_optimizer(oc), optax.adam(3e-4)
    assert (jax.tree.structure(ours.init(PARAMS)) == jax.tree.structure(theirs.init(PARAMS)))
    grads = jax.tree.map(jnp.ones_like, PARAMS)
    u1, _ = ours.update(grads, ours.init(PARAMS), PARAMS)
    u2, _ = theirs.update(grads, theirs.init(PARAMS), PARAMS)
    jax.tree.map(np.testing.assert_array_equal, u1, u2)


def test_clipping_chains_in_front_and_clips_the_global_norm():
    oc = optim.optim_config(name="sgd", learning_rate=1.0, grad_clip_norm=1.0)
    opt = optim.make_optimizer(oc)
    grads = {"w": jnp.full((2, 3), 10.0), "b": jnp.zeros(3)}
    updates, _ = opt.update(grads, opt.init(PARAMS), PARAMS)
    norm = float(optax.tree.norm(updates))
    assert norm == pytest.approx(1.0, rel=1e-6)  # lr 1: the update is the clipped gradient


def test_warmup_then_constant_is_the_linear_ramp_from_zero():
    oc = optim.optim_config(learning_rate=1e-3, warmup_steps=10)
    values = schedule_values(oc, [0, 5, 10, 100])
    np.testing.assert_allclose(values, [0.0, 5e-4, 1e-3, 1e-3], rtol=1e-6)


def test_cosine_matches_the_closed_form_and_counts_updates_per_step():
    oc = optim.optim_config(learning_rate=2.0, schedule="cosine", decay_steps=100,
                            final_lr_fraction=0.1)
    steps = np.array([0, 25, 50, 100, 150])
    closed = 2.0 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * np.minimum(steps, 100) / 100)))
    np.testing.assert_allclose(schedule_values(oc, steps), closed, rtol=1e-6)
    # A critic updated 5 times per train step decays over 5x as many updates.
    np.testing.assert_allclose(schedule_values(oc, 5 * steps, updates_per_step=5), closed,
                               rtol=1e-6)


def test_warmup_joins_the_decay_and_decay_steps_zero_means_the_run():
    oc = optim.optim_config(learning_rate=1.0, warmup_steps=10, schedule="linear",
                            final_lr_fraction=0.0)
    values = schedule_values(oc, [0, 10, 60, 110], total_steps=100)
    np.testing.assert_allclose(values, [0.0, 1.0, 0.5, 0.0], atol=1e-6)


def test_adamw_rmsprop_and_differentiable_variants_match_optax():
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), PARAMS)
    cases = [
        (optim.optim_config(name="adamw", learning_rate=1e-2, weight_decay=0.1),
         optax.adamw(1e-2, weight_decay=0.1), False),
        (optim.optim_config(name="rmsprop", learning_rate=1e-2, rmsprop_decay=0.99),
         optax.rmsprop(1e-2, decay=0.99, eps=1e-8, eps_in_sqrt=False), False),
        (optim.optim_config(learning_rate=1e-2, b1=0.5, b2=0.9),
         optax.adam(1e-2, b1=0.5, b2=0.9, eps_root=1e-12), True),
    ]
    for oc, reference, differentiable in cases:
        ours = optim.make_optimizer(oc, differentiable=differentiable)
        u1, _ = ours.update(grads, ours.init(PARAMS), PARAMS)
        u2, _ = reference.update(grads, reference.init(PARAMS), PARAMS)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), u1, u2)


@pytest.mark.parametrize("values,message", [
    ({"name": "adagrad"}, "optim.name must be one of"),
    ({"learning_rate": float("nan")}, "optim.learning_rate must be > 0"),
    ({"learning_rate": 0.0}, "optim.learning_rate must be > 0"),
    ({"b2": 1.0}, r"optim.b2 must be in \[0, 1\)"),
    ({"weight_decay": 0.1}, "needs name adamw"),
    ({"schedule": "step"}, "optim.schedule must be one of"),
    ({"warmup_steps": -1}, "optim.warmup_steps must be >= 0"),
])
def test_bad_values_are_refused_with_the_key_named(values, message):
    with pytest.raises(ConfigError, match=message):
        optim.validate(optim.optim_config(**values))


def test_ema_update_and_its_warmup():
    average, new = {"p": jnp.zeros(3)}, {"p": jnp.ones(3)}
    plain = optim.ema_update(average, new, 0.9)
    np.testing.assert_allclose(plain["p"], 0.1)
    warm = optim.ema_update(average, new, 0.999, step=0, warmup=True)
    np.testing.assert_allclose(warm["p"], 1.0 - 1.0 / 10.0)  # decay (1 + 0) / (10 + 0)
    late = optim.ema_update(average, new, 0.999, step=10 ** 6, warmup=True)
    np.testing.assert_allclose(late["p"], 1.0 - 0.999, rtol=1e-4)
