"""The `ddpm` family through the engine: the version-1 config translation (optimizer,
EMA, resume), the shared nll against a per-image loop, guidance, conditioning,
latent diffusion, errors. The resume, samples and evaluations of every family
are in tests/test_contract.py."""
import functools
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

import jaxgen
from jaxgen import data, registry
from jaxgen.diffusion import parts, sampling, steps
from jaxgen.engine import optim
from jaxgen.engine.config import build_config, complete, flatten
from jaxgen.engine.images import read_metrics
from jaxgen.engine.loop import train
from jaxgen.engine.run import Run
from jaxgen.errors import ConfigError
from jaxgen.metrics import runner

from conftest import RGB32_DATASET, without_wall_clock
from tiny_configs import tiny_overrides

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "data", "config_v1", "ddpm.json")) as f:
    V1 = json.load(f)  # the default config as the version-1 code saved it


def tiny_ddpm(**overrides):
    return build_config("ddpm", overrides=tiny_overrides("ddpm", **overrides))


def family():
    return registry.get("ddpm")


def assert_same_leaves(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ------------------------------------------------------------------ version 1 -> 2


def old_optimizer(flat):
    """The version-1 code's optimizer, written out independently."""
    lr = optax.linear_schedule(0.0, flat["learning_rate"], max(flat["warmup_steps"], 1))
    return optax.chain(optax.clip_by_global_norm(flat["grad_clip"]), optax.adam(lr)), lr


def completed(flat):
    return complete(ml_collections.ConfigDict(flat), family())


@pytest.mark.parametrize("warmup_steps", [200, 0])
def test_version_1_config_gives_the_old_optimizer(warmup_steps):
    flat = {**V1, "warmup_steps": warmup_steps}
    config = completed(flat)
    assert (config.base_channels, config.channels) == (V1["channels"], 0)
    assert config.ema_decay == V1["ema_decay"] and config.ema_warmup
    old, old_lr = old_optimizer(flat)
    new_lr = optim.learning_rate(config.optim, total_steps=config.steps)
    for step in (0, 1, 2, 100, 199, 200, 201, 2999):
        assert float(new_lr(step)) == float(old_lr(step)), step
    params = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}
    new = steps.make_optimizer(config)
    new_state, old_state = new.init(params), old.init(params)
    assert jax.tree.structure(new_state) == jax.tree.structure(old_state)
    for i in range(3):  # gradients large enough to be clipped
        grads = jax.tree.map(lambda p: 5.0 * jax.random.normal(jax.random.key(i), p.shape), params)
        new_updates, new_state = new.update(grads, new_state, params)
        old_updates, old_state = old.update(grads, old_state, params)
        assert_same_leaves(new_updates, old_updates)
        assert_same_leaves(new_state, old_state)


def test_a_version_1_config_that_clipped_every_gradient_to_zero_is_refused():
    with pytest.raises(ConfigError, match="grad_clip=0.0"):
        completed({**V1, "grad_clip": 0.0})


def test_ema_is_the_old_warming_formula_bit_for_bit():
    keys = jax.random.split(jax.random.key(0), 2)
    average, params = ({"w": jax.random.normal(k, (4, 3))} for k in keys)
    for step in (0, 1, 7, 100, 5000):
        t = jnp.asarray(step, jnp.int32)
        decay = jnp.minimum(0.999, (1.0 + t) / (10.0 + t))  # the version-1 code
        old = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, average, params)
        assert_same_leaves(optim.ema_update(average, params, 0.999, t, warmup=True), old)


def as_version_1(config) -> dict:
    """A config as the version-1 code wrote config.json: flat, old key names."""
    flat = flatten(config.to_dict())
    old_names = {"channels": "base_channels", "learning_rate": "optim.learning_rate",
                 "warmup_steps": "optim.warmup_steps", "grad_clip": "optim.grad_clip_norm"}
    return {key: flat[old_names.get(key, key)] for key in V1}


def train_rows(workdir):
    """The logged train metrics without wall-clock values (the split run's
    first part also evaluated at its last step, 2)."""
    return without_wall_clock(r for r in read_metrics(os.path.join(workdir, "metrics.jsonl"))
                              if r["split"] == "train")


def test_a_run_saved_with_version_1_keys_resumes_like_an_uninterrupted_run(tmp_path):
    """On 2-D points (the MLP denoiser compiles in seconds): the split run's
    config.json is rewritten with the old key names and no config_version
    before it is resumed."""
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    config = functools.partial(tiny_ddpm, dataset="ring8", batch_size=16, eval_every=100,
                               ckpt_every=2, **{"optim.warmup_steps": 3})
    train(config(steps=4), straight, progress=False)
    train(config(steps=2), split, progress=False)
    with open(os.path.join(split, "config.json"), "w") as f:
        json.dump(as_version_1(config(steps=2)), f)
    train(config(steps=4), split, progress=False)
    a, b = jaxgen.load(straight), jaxgen.load(split)
    assert a.step == b.step == 4
    assert_same_leaves(a.state, b.state)
    assert train_rows(straight) == train_rows(split)
    # Sampling knobs are config keys: `jaxgen sample --config.sampler=...` loads so.
    key = jax.random.key(5)
    ancestral = jaxgen.load(straight, overrides={"sampler": "ddpm", "sample_steps": "20"})
    assert ancestral.config.sampler == "ddpm" and ancestral.config.sample_steps == 20
    samples = np.asarray(ancestral.sample(key, 3))
    assert samples.shape == (3, 2) and np.all(np.isfinite(samples))
    assert not np.allclose(samples, a.sample(key, 3))


# ------------------------------------------------------------------ likelihood


def test_shared_nll_equals_a_per_image_loop_of_log_likelihood(tmp_path):
    """32x32 RGB, conditional: the runner's padded 250-image batch against each
    image's value computed in a batch of another size, the other rows other
    images, with the runner's key of that batch."""
    config = tiny_ddpm(dataset=RGB32_DATASET, conditional=True)
    test = data.load_split(config, "test")
    state = jax.jit(functools.partial(family().init, config))(
        jax.random.key(0), {k: v[:8] for k, v in test.items()})
    run = Run(workdir=str(tmp_path), config=config, family=family(), state=state)
    key, num = jax.random.key(3), 5
    out = runner.evaluate_nll(run, key, num)

    log_likelihood = jax.jit(functools.partial(steps.log_likelihood, config, state))
    batch_key = jax.random.fold_in(key, 0)  # the runner's key of its first batch
    others = test["image"][num:num + 6]     # 6 rows: another batch size than the runner's
    per_image = []
    for n in range(num):
        images = others.copy()
        images[n] = test["image"][n]
        per_image.append(-float(log_likelihood({"image": images}, batch_key)[n]))
    per_image = np.asarray(per_image)
    assert np.all(np.isfinite(per_image)) and np.all(per_image > 0)
    assert out["num_images"] == num and out["likelihood_kind"] == "bound"
    np.testing.assert_allclose(out["nll_nats"], per_image.mean(), rtol=1e-5)
    np.testing.assert_allclose(out["nll_nats_stderr"],
                               per_image.std(ddof=1) / np.sqrt(num), rtol=1e-3)
    np.testing.assert_allclose(out["bpd"], per_image.mean() / (32 * 32 * 3 * np.log(2)),
                               rtol=1e-5)


# ------------------------------------------------------------------ sampling


@pytest.fixture(scope="module")
def tiny_state():
    config = tiny_ddpm(conditional=True)
    batch = {"image": np.zeros((8, 28, 28, 1), np.uint8), "label": np.zeros(8, np.int32)}
    return config, jax.jit(functools.partial(family().init, config))(jax.random.key(0), batch)


def test_the_sampler_compiles_once_per_step_count(tiny_state, monkeypatch):
    """The whole chain is one program: the network is traced once per compilation,
    and new keys or labels do not recompile."""
    config, state = tiny_state
    traces = []
    make_model = parts.make_model

    def counting_model(cfg):
        model = make_model(cfg)
        original = model.apply
        return type("Counted", (), {"apply": lambda self, *a, **k: (traces.append(1),
                                                                    original(*a, **k))[1]})()

    monkeypatch.setattr(parts, "make_model", counting_model)
    fn = jax.jit(functools.partial(sampling.sample, config), static_argnames="num")
    for i in range(3):
        fn(state, jax.random.key(i), num=2, cond=jnp.array([i, 1]))
    assert len(traces) == 1
    assert fn._cache_size() == 1


def test_guidance_mixes_conditional_and_unconditional_outputs(tiny_state):
    """make_predict_fn with w: (1 + w) out(x, y) - w out(x, none), from one doubled batch."""
    config, state = tiny_state
    params = state.ema_params
    apply = parts.make_model(config).apply
    x = jax.random.normal(jax.random.key(2), (3, 28, 28, 1))
    t = jnp.array([0, 7, 19])
    labels = jnp.array([1, 4, 9])
    cond = apply(params, x, t, labels)
    uncond = apply(params, x, t, jnp.full((3,), 10))
    w = 2.5
    guided = sampling.make_predict_fn(tiny_ddpm(conditional=True, guidance=w), params, labels)
    np.testing.assert_allclose(guided(x, t), (1 + w) * cond - w * uncond, atol=1e-4)
    plain = sampling.make_predict_fn(config, params, labels)(x, t)
    np.testing.assert_allclose(plain, cond, atol=1e-6)


def test_network_evaluations_count_the_doubled_guidance_batch_twice():
    assert family().network_evals(tiny_ddpm(sample_steps=7)) == 7
    assert family().network_evals(tiny_ddpm(sample_steps=7, conditional=True)) == 7
    assert family().network_evals(tiny_ddpm(sample_steps=7, conditional=True,
                                            guidance=0.5)) == 14


def test_a_conditional_grid_has_one_class_per_row_and_cond_picks_the_class():
    config = tiny_ddpm(conditional=True)
    np.testing.assert_array_equal(sampling.sample_labels(config, 20), np.repeat(np.arange(10), 2))
    np.testing.assert_array_equal(sampling.sample_labels(config, 3, cond=7), [7, 7, 7])
    np.testing.assert_array_equal(
        sampling.sample_labels(config, 2, cond={"label": np.array([4, 1])}), [4, 1])
    assert sampling.sample_labels(tiny_ddpm(), 4) is None
    assert family().is_conditional(config) and not family().is_conditional(tiny_ddpm())


# ------------------------------------------------------------------ latents, errors


def test_latent_diffusion_on_a_trained_vae(tmp_path):
    vae_dir = str(tmp_path / "vae")
    train(build_config("vae", overrides=tiny_overrides("vae", latent_dim=3, steps=1)), vae_dir,
          progress=False)
    run_dir = str(tmp_path / "latent")
    train(tiny_ddpm(latent_vae_workdir=vae_dir, steps=2), run_dir, progress=False)
    run = jaxgen.load(run_dir)
    assert_same_leaves(run.state.extra["vae_params"], jaxgen.load(vae_dir).state.params)
    assert parts.data_shape(run.config) == (3,)
    samples = run.sample(jax.random.key(0), 2)
    assert samples.shape == (2, 28, 28, 1)
    assert run.family.kind_of_likelihood(run.config) is None
    assert run.family.network_evals(run.config) == run.config.sample_steps + 1  # + the decoder
    with pytest.raises(ConfigError, match="pixel-space"):
        steps.log_likelihood(run.config, run.state, {"image": np.zeros((1, 28, 28, 1), np.uint8)},
                             jax.random.key(0))


@pytest.mark.parametrize("overrides,message", [
    ({"prediction": "score"}, "prediction must be one of"),
    ({"sampler": "euler"}, "sampler must be one of"),
    ({"schedule": "sigmoid"}, "schedule must be one of"),
    ({"sample_steps": 0}, "sample_steps must be in"),
    ({"eta": -1.0}, "eta must be >= 0"),
    ({"guidance": 2.0}, "guidance > 0 needs a conditional model"),
    ({"conditional": True, "label_dropout": 1.0}, "label_dropout must be in"),
    ({"channel_mults": "(1, 2, 2, 2)"}, "28x28 images 3 times.*divisible by 8.*at most 3 levels"),
    ({"dataset": RGB32_DATASET, "channel_mults": "(1, 1, 1, 1, 1, 1, 1)"},
     "32x32 images 6 times.*divisible by 64.*at most 6 levels"),
    ({"vb_timesteps": 1}, "vb_timesteps"),
    ({"sample_steps": 21}, "sample_steps must be in"),
    ({"optim.learning_rate": 0.0}, "optim.learning_rate must be > 0"),
    ({"ema_decay": 1.0}, "ema_decay must be in"),
    ({"dataset": "ring8", "conditional": True}, "needs class labels"),
    ({"dataset": "ring8", "latent_vae_workdir": "/nonexistent/vae"}, "needs a dataset of kind images"),
    ({"latent_vae_workdir": "/nonexistent/vae"}, "is not a directory"),
    ({"source": "paired", "dataset_b": "fashion_mnist"}, "single images or points"),
])
def test_bad_config_values_are_clear_errors(overrides, message):
    config = tiny_ddpm(**overrides)
    batch = {"image": np.zeros((2, 28, 28, 1), np.uint8), "label": np.zeros(2, np.int32)}
    with pytest.raises(ConfigError, match=message):
        family().init(config, jax.random.key(0), batch)
