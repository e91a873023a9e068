"""The GAN families: alternation, critic constraints, shapes, configs, end to end.

Resume and the 32x32 RGB run are the contract test's (tests/test_contract.py);
a resume across the old config keys is in tests/test_gan_upgrade.py.
"""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import data
from jaxgen.engine.config import build_config
from jaxgen.errors import ConfigError
from jaxgen.gan import family as gan_family
from jaxgen.gan import losses, models, sampling, steps

from conftest import RGB32_DATASET, run_cli

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
    if data.kind(config) == "points":
        return {"point": jnp.asarray(rng.normal(size=(b, 2)), jnp.float32)}
    return {"image": jnp.asarray(rng.integers(0, 256, (b,) + data.image_shape(config)), jnp.uint8),
            "label": jnp.asarray(rng.integers(0, data.num_classes(config), (b,)), jnp.int32)}


def leaves_equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_each_sub_step_updates_only_its_own_network():
    config = points_config(n_critic=2, ema_decay=0.5)
    batch = random_batch(config)
    state = gan_family.init(config, jax.random.key(0), batch)
    real = models.real_examples(config, batch)

    after_d, _ = steps.discriminator_steps(config, state, real, None, jax.random.key(1))
    assert leaves_equal(after_d.params["g"], state.params["g"])
    assert leaves_equal(after_d.opt_state["g"], state.opt_state["g"])
    assert leaves_equal(after_d.ema_params, state.ema_params)
    assert not leaves_equal(after_d.params["d"], state.params["d"])

    after_g, _ = steps.generator_step(config, after_d, real[:4], None, jax.random.key(2))
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
    state = gan_family.init(config, jax.random.key(0), batch)
    real = models.real_examples(config, batch)
    key = jax.random.key(5)
    scanned, _ = steps.discriminator_steps(config, state, real, None, key)

    carry = (state.params["d"], state.opt_state["d"], None)  # no spectral-norm vectors
    for i, k in enumerate(jax.random.split(key, 3)):
        carry, _ = steps.critic_update(config, state.params["g"], None, carry,
                                     (real[4 * i:4 * (i + 1)], None, k))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
                 scanned.params["d"], carry[0])


def test_generator_gradient_is_the_gradient_of_its_loss_through_d():
    """G's update direction: Adam's first step is -lr * sign(grad) (up to eps), and the
    gradient must be d/dg of the generator loss with D's current parameters."""
    config = points_config(**{"optim.g.learning_rate": 1e-3})
    batch = random_batch(config)
    state = gan_family.init(config, jax.random.key(0), batch)
    real = models.real_examples(config, batch)
    key = jax.random.key(3)
    k_z, k_drop, _ = jax.random.split(key, 3)

    def loss(g):  # written out independently of generator_objective
        z = jax.random.normal(k_z, (real.shape[0], config.latent_dim))
        fake, _ = models.generate(config, g, None, z, None, train=True)
        out = models.discriminate(config, state.params["d"], fake, None, k_drop, train=True)
        return jnp.mean(jax.nn.softplus(-out))

    grads = jax.grad(loss)(state.params["g"])
    new, _ = steps.generator_step(config, state, real, None, key)
    step = jax.tree.map(lambda a, b: a - b, new.params["g"], state.params["g"])
    jax.tree.map(lambda s, g: np.testing.assert_allclose(
        s, -1e-3 * g / (jnp.abs(g) + 1e-8), rtol=1e-3, atol=1e-8), step, grads)


def test_unrolled_generator_sees_a_different_discriminator():
    """With unroll_steps = 2 the generator's gradient differs from the plain one, and
    with a vanishing critic learning rate (D does not move) it equals it."""
    def g_grads(**overrides):
        config = points_config(**overrides)
        batch = random_batch(config)
        state = gan_family.init(config, jax.random.key(0), batch)
        real = models.real_examples(config, batch)
        return jax.grad(lambda g: steps.generator_objective(
            config, g, None, state.params["d"], state.opt_state["d"], None, real, None,
            jax.random.key(4))[0])(state.params["g"])

    plain = g_grads()
    unrolled = g_grads(unroll_steps=2)
    frozen = g_grads(unroll_steps=2, **{"optim.d.learning_rate": 1e-12})
    assert not all(np.allclose(a, b, rtol=1e-3) for a, b in
                   zip(jax.tree.leaves(plain), jax.tree.leaves(unrolled)))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7),
                 plain, frozen)


def test_wgan_clips_the_critic_and_only_the_critic():
    config = tiny_config("wgan", clip_value=0.01, dataset="ring8", arch="mlp", d_dropout=0.0)
    batch = random_batch(config)
    state = gan_family.init(config, jax.random.key(0), batch)
    state, metrics = jax.jit(lambda s, b: steps.train_step(config, s, b, jax.random.key(1)))(
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
    state = gan_family.init(config, jax.random.key(0), batch)
    step = jax.jit(lambda s, b, k: steps.train_step(config, s, b, k))
    before = state.params
    state, metrics = step(state, batch, jax.random.key(1))
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert ("gp" in metrics) == (family == "wgan_gp")
    assert not leaves_equal(before["g"], state.params["g"])
    images = sampling.sample(config, state, jax.random.key(2), 10, None)
    assert images.shape == (10, 28, 28, 1)
    assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0


def test_cgan_samples_one_class_per_row():
    config = tiny_config("cgan")
    np.testing.assert_array_equal(sampling.sample_labels(config, 100), np.repeat(np.arange(10), 10))
    np.testing.assert_array_equal(sampling.sample_labels(config, 3, cond=7), [7, 7, 7])
    assert sampling.sample_labels(tiny_config("gan"), 10) is None


def test_cgan_reads_every_form_of_cond():
    config = tiny_config("cgan")
    labels = jnp.asarray([3, 1, 4], jnp.int32)
    np.testing.assert_array_equal(sampling.sample_labels(config, 3, cond=labels), [3, 1, 4])
    np.testing.assert_array_equal(sampling.sample_labels(config, 3, cond={"label": labels}),
                                  [3, 1, 4])


def test_registration_declares_conditioning_and_network_evals():
    from jaxgen import registry
    for name in family_names():
        fam = registry.get(name)
        config = fam.default_config()
        assert fam.is_conditional(config) == (name == "cgan")
        assert fam.network_evals(config) == 1
        assert fam.upgrade_config is gan_family.upgrade_config


def family_names():
    return tuple(gan_family.VARIANTS)


@pytest.mark.parametrize("dataset,g_channels,start", [
    ("fashion_mnist", (8, 4, 4), (7, 7)), ("fashion_mnist", (8, 4), (14, 14)),
    (RGB32_DATASET, (8, 4, 4), (8, 8)), (RGB32_DATASET, (8, 4, 4, 4), (4, 4))])
def test_dcgan_shapes_come_from_the_dataset(dataset, g_channels, start):
    """G's first layer is Dense(latent -> h0 * w0 * C0) at (H, W) / 2^(len - 1) and it
    ends at the dataset's (H, W, C); D accepts the images (shapes only: no compile)."""
    config = tiny_config("dcgan", dataset=dataset, g_channels=g_channels)
    gan_family.validate(config)
    batch = random_batch(config)
    state = jax.eval_shape(lambda b: gan_family.init(config, jax.random.key(0), b), batch)
    h0, w0 = start
    assert state.params["g"]["Dense_0"]["kernel"].shape == (4, h0 * w0 * g_channels[0])
    images = jax.eval_shape(lambda s: sampling.sample(config, s, jax.random.key(1), 5), state)
    assert images.shape == (5,) + data.image_shape(config)


def test_mlp_generator_output_comes_from_the_dataset():
    config = tiny_config("gan", dataset=RGB32_DATASET)
    batch = random_batch(config)
    state = jax.eval_shape(lambda b: gan_family.init(config, jax.random.key(0), b), batch)
    last = sorted(state.params["g"])[-1]
    assert state.params["g"][last]["kernel"].shape[-1] == 32 * 32 * 3
    assert jax.eval_shape(lambda s: sampling.sample(config, s, jax.random.key(1), 2),
                          state).shape == (2, 32, 32, 3)


@pytest.mark.parametrize("arch,pack", [("mlp", 2), ("dcgan", 1)])
def test_gradient_penalty_in_the_critic_loss_is_per_pack(arch, pack):
    """The `gp` the critic objective reports equals E[(||grad D(x_hat)|| - 1)^2] with
    each pack's gradient taken on that pack alone (jax.jacfwd for the MLP,
    forward mode and independent of the summed-output trick; the conv critic's
    custom-VJP convolutions have no forward mode, so one example at a time)."""
    dataset = "ring8" if arch == "mlp" else "fashion_mnist"
    config = tiny_config("wgan_gp", arch=arch, dataset=dataset, pack=pack, n_critic=1,
                         d_dropout=0.0, batch_size=4)
    batch = random_batch(config)
    state = gan_family.init(config, jax.random.key(0), batch)
    real = models.real_examples(config, batch)
    key = jax.random.key(7)
    _, aux = steps.critic_objective(config, state.params["d"], state.params["g"],
                                    models.g_batch_stats(state), real, None, key)
    # The interpolates critic_objective draws, from its documented key split.
    k_z, _, _, k_gp = jax.random.split(key, 4)
    k_interp, _ = jax.random.split(k_gp)
    fake, _ = models.generate(config, state.params["g"], models.g_batch_stats(state),
                              models.latents(config, k_z, real.shape[0]), None, train=True)
    x_hat = losses.interpolate(models.pack_samples(real, pack), models.pack_samples(fake, pack),
                               k_interp)

    def critic_one(x):  # one pack -> its scalar output
        return models.discriminate_packed(config, state.params["d"], x[None], None,
                                          jax.random.key(0), train=False)[0]

    derivative = jax.jacfwd(critic_one) if arch == "mlp" else jax.grad(critic_one)
    norms = np.asarray([np.linalg.norm(np.asarray(derivative(x))) for x in x_hat])
    np.testing.assert_allclose(aux["gp"], np.mean((norms - 1.0) ** 2), rtol=1e-4)


@pytest.mark.parametrize("overrides,message", [
    ({"loss": "wgan"}, "'loss' must be one of"),
    ({"arch": "dcgan", "dataset": "ring8"}, "needs an image dataset"),
    ({"n_critic": 3}, "multiple of n_critic"),
    ({"pack": 3}, "multiple of n_critic"),
    ({"sample_from": "ema"}, "needs ema_decay > 0"),
    ({"conditional": True, "pack": 2}, "conditional needs"),
    ({"unroll_steps": -1}, "'unroll_steps' must be >= 0"),
    ({"optim.g.learning_rate": 0.0}, "optim.g.learning_rate must be > 0"),
    ({"optim.d.name": "adagrad"}, "optim.d.name must be one of"),
    ({"g_channels": (8, 4, 4, 4)}, "28x28 must be divisible by 8"),
    ({"conditional": True, "dataset": "ring8"}, "conditional needs"),
])
def test_bad_config_values_are_clear_errors(overrides, message):
    config = tiny_config("gan", **{k: v for k, v in overrides.items() if k != "g_channels"})
    if "g_channels" in overrides:
        config.g_channels = overrides["g_channels"]
        config.arch = "dcgan"
    with pytest.raises(ConfigError, match=message):
        gan_family.validate(config)


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
