"""The GAN families: alternation, critic constraints, resume, configs, end to end."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgen
from jaxgen.engine.config import build_config
from jaxgen.engine.loop import train
from jaxgen.errors import ConfigError
from jaxgen.gan import family as gan

from conftest import run_cli
from test_engine import assert_same_state, train_rows

# Tiny networks: what is tested is the machinery, not sample quality.
TINY = {"g_hidden": "(16, 16)", "d_hidden": "(16, 16)", "g_channels": "(8, 4, 4)",
        "d_channels": "(4, 8)", "latent_dim": "4", "steps": "4", "log_every": "2",
        "eval_every": "2", "sample_every": "2", "ckpt_every": "2", "eval_batches": "1",
        "num_grid": "10"}
TINY_BATCH = {"gan": 8, "dcgan": 8, "wgan": 10, "wgan_gp": 10, "cgan": 10}


def tiny_config(family="gan", **overrides):
    values = dict(TINY, batch_size=str(TINY_BATCH[family]))
    values.update({k: str(v) for k, v in overrides.items()})
    return build_config(family, overrides=values)


def points_config(**overrides):
    return tiny_config("gan", dataset="ring8", d_dropout=0.0, **overrides)


def random_batch(config, seed=0):
    rng = np.random.default_rng(seed)
    b = config.batch_size
    if config.dataset == "ring8":
        return {"point": jnp.asarray(rng.normal(size=(b, 2)), jnp.float32)}
    return {"image": jnp.asarray(rng.integers(0, 256, (b, 28, 28, 1)), jnp.uint8),
            "label": jnp.asarray(rng.integers(0, 10, (b,)), jnp.int32)}


def leaves_equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_each_sub_step_updates_only_its_own_network():
    config = points_config(n_critic=2, ema_decay=0.5)
    batch = random_batch(config)
    state = gan.init(config, jax.random.key(0), batch)
    real = gan.real_examples(config, batch)

    after_d, _ = gan.discriminator_steps(config, state, real, None, jax.random.key(1))
    assert leaves_equal(after_d.params["g"], state.params["g"])
    assert leaves_equal(after_d.opt_state["g"], state.opt_state["g"])
    assert leaves_equal(after_d.ema_params, state.ema_params)
    assert not leaves_equal(after_d.params["d"], state.params["d"])

    after_g, _ = gan.generator_step(config, after_d, real[:4], None, jax.random.key(2))
    assert leaves_equal(after_g.params["d"], after_d.params["d"])
    assert leaves_equal(after_g.opt_state["d"], after_d.opt_state["d"])
    assert not leaves_equal(after_g.params["g"], after_d.params["g"])
    # EMA with decay 0.5 lies halfway between the old and the new generator weights.
    jax.tree.map(lambda e, old, new: np.testing.assert_allclose(e, 0.5 * (old + new), rtol=1e-6),
                 after_g.ema_params, state.params["g"], after_g.params["g"])


def test_critic_steps_are_sequential_updates_on_their_own_slices():
    """n_critic = 3 in one scan equals three critic updates by hand, slice i with key i."""
    config = points_config(n_critic=3, batch_size=12)
    batch = random_batch(config)
    state = gan.init(config, jax.random.key(0), batch)
    real = gan.real_examples(config, batch)
    key = jax.random.key(5)
    scanned, _ = gan.discriminator_steps(config, state, real, None, key)

    carry = (state.params["d"], state.opt_state["d"])
    for i, k in enumerate(jax.random.split(key, 3)):
        carry, _ = gan.critic_update(config, state.params["g"], None, carry,
                                     (real[4 * i:4 * (i + 1)], None, k))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
                 scanned.params["d"], carry[0])


def test_generator_gradient_is_the_gradient_of_its_loss_through_d():
    """G's update direction: Adam's first step is -lr * sign(grad) (up to eps), and the
    gradient must be d/dg of the generator loss with D's current parameters."""
    config = points_config(g_learning_rate=1e-3)
    batch = random_batch(config)
    state = gan.init(config, jax.random.key(0), batch)
    real = gan.real_examples(config, batch)
    key = jax.random.key(3)
    k_z, k_drop, _ = jax.random.split(key, 3)

    def loss(g):  # written out independently of generator_objective
        z = jax.random.normal(k_z, (real.shape[0], config.latent_dim))
        fake, _ = gan.generate(config, g, None, z, None, train=True)
        out = gan.discriminate(config, state.params["d"], fake, None, k_drop, train=True)
        return jnp.mean(jax.nn.softplus(-out))

    grads = jax.grad(loss)(state.params["g"])
    new, _ = gan.generator_step(config, state, real, None, key)
    step = jax.tree.map(lambda a, b: a - b, new.params["g"], state.params["g"])
    jax.tree.map(lambda s, g: np.testing.assert_allclose(
        s, -1e-3 * g / (jnp.abs(g) + 1e-8), rtol=1e-3, atol=1e-8), step, grads)


def test_unrolled_generator_sees_a_different_discriminator():
    """With unroll_steps = 2 the generator's gradient differs from the plain one, and
    with a vanishing critic learning rate (D does not move) it equals it."""
    def g_grads(**overrides):
        config = points_config(**overrides)
        batch = random_batch(config)
        state = gan.init(config, jax.random.key(0), batch)
        real = gan.real_examples(config, batch)
        return jax.grad(lambda g: gan.generator_objective(
            config, g, None, state.params["d"], state.opt_state["d"], real, None,
            jax.random.key(4))[0])(state.params["g"])

    plain = g_grads()
    unrolled = g_grads(unroll_steps=2)
    frozen = g_grads(unroll_steps=2, d_learning_rate=1e-12)
    assert not all(np.allclose(a, b, rtol=1e-3) for a, b in
                   zip(jax.tree.leaves(plain), jax.tree.leaves(unrolled)))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7),
                 plain, frozen)


def test_wgan_clips_the_critic_and_only_the_critic():
    config = tiny_config("wgan", clip_value=0.01, dataset="ring8", arch="mlp", d_dropout=0.0)
    batch = random_batch(config)
    state = gan.init(config, jax.random.key(0), batch)
    state, metrics = jax.jit(lambda s, b: gan.train_step(config, s, b, jax.random.key(1)))(
        state, batch)
    for leaf in jax.tree.leaves(state.params["d"]):
        assert float(jnp.max(jnp.abs(leaf))) <= 0.01 + 1e-9
    assert max(float(jnp.max(jnp.abs(leaf))) for leaf in jax.tree.leaves(state.params["g"])) > 0.1
    assert np.isfinite(float(metrics["d_loss"]))


# Convolutional compiles are slow on 2 cores: dcgan (batch norm, EMA) and wgan_gp
# (penalty = a second derivative through jaxgen.nn.fast_conv) keep their
# convolutional networks; gan, wgan and cgan are checked with the MLP.
@pytest.mark.parametrize("family,arch", [("gan", "mlp"), ("dcgan", "dcgan"), ("wgan", "mlp"),
                                         ("wgan_gp", "dcgan"), ("cgan", "mlp")])
def test_every_family_trains_a_step_and_samples(family, arch):
    config = tiny_config(family, ema_decay=0.9, arch=arch)
    batch = random_batch(config)
    state = gan.init(config, jax.random.key(0), batch)
    step = jax.jit(lambda s, b, k: gan.train_step(config, s, b, k))
    before = state.params
    state, metrics = step(state, batch, jax.random.key(1))
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert ("gp" in metrics) == (family == "wgan_gp")
    assert not leaves_equal(before["g"], state.params["g"])
    images = gan.sample(config, state, jax.random.key(2), 10, None)
    assert images.shape == (10, 28, 28, 1)
    assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0


def test_cgan_samples_one_class_per_row():
    config = tiny_config("cgan")
    np.testing.assert_array_equal(gan.sample_labels(config, 100), np.repeat(np.arange(10), 10))
    np.testing.assert_array_equal(gan.sample_labels(config, 3, cond=7), [7, 7, 7])
    assert gan.sample_labels(tiny_config("gan"), 10) is None


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    """Packed, two critic steps and an EMA: all of it resumes bit for bit."""
    overrides = dict(pack=2, n_critic=2, ema_decay=0.9, log_every=1)
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    train(points_config(steps=4, **overrides), straight, progress=False)
    train(points_config(steps=2, **overrides), split, progress=False)
    train(points_config(steps=4, **overrides), split, progress=False)
    assert_same_state(jaxgen.load(straight).state, jaxgen.load(split).state)
    assert train_rows(straight) == train_rows(split)
    assert os.path.exists(os.path.join(straight, "samples", "final.png"))  # a scatter


@pytest.mark.parametrize("overrides,message", [
    ({"loss": "wgan"}, "'loss' must be one of"),
    ({"arch": "dcgan", "dataset": "ring8"}, "needs an image dataset"),
    ({"n_critic": 3}, "multiple of n_critic"),
    ({"pack": 3}, "multiple of n_critic"),
    ({"sample_from": "ema"}, "needs ema_decay > 0"),
    ({"conditional": True, "pack": 2}, "conditional needs"),
    ({"unroll_steps": -1}, "'unroll_steps' must be >= 0"),
    ({"g_learning_rate": 0.0}, "must be > 0"),
    ({"g_channels": (8, 4, 4, 4)}, "divisible by"),
])
def test_bad_config_values_are_clear_errors(overrides, message):
    config = tiny_config("gan", **{k: v for k, v in overrides.items() if k != "g_channels"})
    if "g_channels" in overrides:
        config.g_channels = overrides["g_channels"]
        config.arch = "dcgan"
    with pytest.raises(ConfigError, match=message):
        gan.validate(config)


def test_cli_train_sample_eval_on_points(tmp_path):
    workdir = str(tmp_path / "ring")
    args = [f"--config.{k}={v}" for k, v in TINY.items()]
    run_cli("train", "gan", "--workdir", workdir, "--no-progress", *args,
            "--config.dataset=ring8", "--config.batch_size=8", "--config.pack=2")
    run_cli("sample", "--workdir", workdir, "--num", "7", "--out", str(tmp_path / "p.npy"))
    assert np.load(tmp_path / "p.npy").shape == (7, 2)
    out = run_cli("eval", "--workdir", workdir, "--metrics", "modes,pictures", "--num", "200")
    values = json.load(open(os.path.join(workdir, "eval.json")))
    assert 0 <= values["modes_covered"] <= 8 and 0 <= values["high_quality"] <= 1
    assert "reverse_kl" in out.stdout
    assert os.path.exists(os.path.join(workdir, "pictures", "samples_over_density.png"))
    bad = run_cli("train", "gan", "--workdir", str(tmp_path / "bad"), "--config.loss=bogus",
                  check=False)
    assert bad.returncode == 2 and "'loss' must be one of" in bad.stderr
