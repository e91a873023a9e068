"""Configs saved by the GAN code before `optim.g` / `optim.d` (version 1) still
build the very optimizers they were trained with, and resume exactly.

The reference is the old code's formula (`old_optimizers`, the make_optimizers
of jaxgen/gan/family.py before the optim blocks), applied to the old flat keys.
"""
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgen
from jaxgen import registry
from jaxgen.engine import config as config_lib
from jaxgen.engine import optim
from jaxgen.engine.loop import train
from jaxgen.gan import family as gan_family
from jaxgen.gan import steps

from test_contract import leaves_equal, logged_rows, resume_from_first_checkpoint

V1_DIR = os.path.join(os.path.dirname(__file__), "data", "config_v1")
FAMILIES = tuple(gan_family.VARIANTS)


def old_optimizers(flat: dict) -> dict:
    """What the version-1 code built from its flat keys (its make_optimizers)."""
    unrolled = flat["unroll_steps"] > 0

    def one(lr, updates_per_step):
        if flat["lr_decay_steps"] > 0:
            lr = optax.cosine_decay_schedule(lr, flat["lr_decay_steps"] * updates_per_step, 0.01)
        if flat["optimizer"] == "rmsprop":
            return optax.rmsprop(lr, decay=0.99, eps=1e-8, eps_in_sqrt=unrolled)
        return optax.adam(lr, b1=flat["beta1"], b2=flat["beta2"],
                          eps_root=1e-12 if unrolled else 0.0)
    return {"g": one(flat["g_learning_rate"], 1),
            "d": one(flat["d_learning_rate"], flat["n_critic"])}


def old_learning_rate(flat: dict, name: str, count: int) -> float:
    lr = flat[f"{name}_learning_rate"]
    if flat["lr_decay_steps"] == 0:
        return lr
    per_step = flat["n_critic"] if name == "d" else 1
    return float(optax.cosine_decay_schedule(lr, flat["lr_decay_steps"] * per_step, 0.01)(count))


def saved_v1(family: str, **changes) -> dict:
    with open(os.path.join(V1_DIR, f"{family}.json")) as f:
        flat = json.load(f)
    assert "config_version" not in flat and "optimizer" in flat  # a version-1 file
    flat.update(changes)
    return flat


def completed(flat: dict):
    return config_lib.complete(dict(flat), registry.get(flat["family"]))


def assert_same_config(got, want) -> None:
    """Key for key (tuples and the lists JSON gives back compare equal)."""
    got, want = config_lib.flatten(got.to_dict()), config_lib.flatten(want.to_dict())
    assert set(got) == set(want)
    for key, expected in want.items():
        value = got[key]
        if isinstance(expected, (tuple, list)):
            value, expected = list(value), list(expected)
        assert value == expected and type(value) is type(expected), key


# Defaults changed since version 1 (issue 18: the DCGAN discriminator went from
# two to four stride-2 blocks). A saved run keeps the value it was trained with.
CHANGED_DEFAULTS = {"d_channels": [32, 64]}


@pytest.mark.parametrize("family", FAMILIES)
def test_v1_defaults_complete_to_todays_defaults(family):
    """Each old default config, translated, is today's default config key for key,
    except the defaults changed since, which keep the saved value."""
    got, today = completed(saved_v1(family)), registry.get(family).default_config()
    for key, saved in CHANGED_DEFAULTS.items():
        assert list(got[key]) == saved and list(today[key]) != saved, key
        got[key] = today[key]
    assert_same_config(got, today)
    # Keys added since (spectral norm, R1) complete to what the old code did: off.
    assert not got.d_spectral_norm and got.r1_weight == 0.0


# The saved defaults and the variations that reach every branch of the old formula.
VARIATIONS = [{}, {"lr_decay_steps": 3}, {"unroll_steps": 2},
              {"lr_decay_steps": 2, "unroll_steps": 1}]
CASES = [(f, v) for f in FAMILIES for v in VARIATIONS] + [
    ("gan", {"optimizer": "rmsprop", "g_learning_rate": 3e-4, "d_learning_rate": 1e-4}),
    ("wgan", {"optimizer": "adam", "beta1": 0.3, "beta2": 0.95, "lr_decay_steps": 4}),
]


def tiny_params():
    k1, k2 = jax.random.split(jax.random.key(0))
    return {"dense": {"kernel": jax.random.normal(k1, (3, 2)), "bias": jnp.zeros(2)},
            "dead": jnp.zeros(3)}  # a leaf whose gradient is exactly 0 (the unrolled case)


@pytest.mark.parametrize("family,changes", CASES)
def test_translated_optimizers_equal_the_old_ones(family, changes):
    """Same learning rate at each step, same state structure, same updates."""
    flat = saved_v1(family, **changes)
    config = completed(flat)
    new, old = steps.make_optimizers(config), old_optimizers(flat)
    params = tiny_params()
    for name in steps.NETWORKS:
        per_step = config.n_critic if name == "d" else 1
        lr = optim.learning_rate(config.optim[name], per_step, config.steps)
        for count in (0, 1, 2, 5, 9, 14, 15, 40):
            got = float(lr(count)) if callable(lr) else lr
            np.testing.assert_allclose(got, old_learning_rate(flat, name, count), rtol=1e-6)
        new_state, old_state = new[name].init(params), old[name].init(params)
        assert jax.tree.structure(new_state) == jax.tree.structure(old_state)
        for i in range(20):  # 20 updates on the same gradients: identical updates
            grads = jax.tree.map(lambda p: jnp.sin(p + i) * (p != 0), params)
            u_new, new_state = new[name].update(grads, new_state, params)
            u_old, old_state = old[name].update(grads, old_state, params)
            leaves_equal(u_new, u_old)
        leaves_equal(new_state, old_state)


# A tiny points run with what the old keys reach: two critic updates per step
# with their own slices, packs of 2, G's EMA, a cosine decay to 1%.
RESUME_RUN = {"dataset": "ring8", "arch": "mlp", "g_hidden": "(8,)", "d_hidden": "(8,)",
              "latent_dim": "2", "d_dropout": "0.0", "batch_size": "8", "n_critic": "2",
              "pack": "2", "ema_decay": "0.9", "steps": "2", "ckpt_every": "1", "log_every": "1",
              "eval_every": "2", "sample_every": "2", "eval_batches": "1", "num_grid": "4",
              "optim.g.learning_rate": "3e-4", "optim.d.learning_rate": "1e-3",
              "optim.g.schedule": "cosine", "optim.d.schedule": "cosine",
              "optim.g.decay_steps": "3", "optim.d.decay_steps": "3",
              "optim.g.final_lr_fraction": "0.01", "optim.d.final_lr_fraction": "0.01"}
V2_DATA_KEYS = ("source", "dataset_b", "data_path", "data_path_b", "image_size", "channels")


def to_v1(config_json: dict) -> dict:
    """A version-2 GAN config.json written back in the version-1 key names."""
    flat = config_lib.flatten(config_json)
    g = {k.split(".")[-1]: flat.pop(k) for k in list(flat) if k.startswith("optim.g.")}
    d = {k.split(".")[-1]: flat.pop(k) for k in list(flat) if k.startswith("optim.d.")}
    assert g["schedule"] == d["schedule"] == "cosine" and g["decay_steps"] == d["decay_steps"]
    flat.pop("config_version")
    for key in V2_DATA_KEYS:
        flat.pop(key)
    flat.update(optimizer=g["name"], g_learning_rate=g["learning_rate"],
                d_learning_rate=d["learning_rate"], beta1=g["b1"], beta2=g["b2"],
                lr_decay_steps=g["decay_steps"])
    return flat


def test_resume_of_a_run_saved_with_the_old_keys_equals_the_uninterrupted_run(tmp_path):
    config = config_lib.build_config("gan", overrides=RESUME_RUN)
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    train(config, straight, progress=False)
    # The split run's config.json as the old code wrote it: v1 names, no config_version.
    shutil.copytree(straight, str(tmp_path / "v1"))
    path = os.path.join(str(tmp_path / "v1"), "config.json")
    with open(path) as f:
        old = to_v1(json.load(f))
    with open(path, "w") as f:
        json.dump(old, f)
    assert "config_version" not in old and "lr_decay_steps" in old
    assert_same_config(config_lib.complete(dict(old), registry.get("gan")), config)

    resume_from_first_checkpoint(str(tmp_path / "v1"), split, config)
    leaves_equal(jaxgen.load(straight).state, jaxgen.load(split).state)
    assert logged_rows(straight) == logged_rows(split)
