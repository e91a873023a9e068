"""The `ddpm` family through the engine: CLI, resume, compilation, guidance, latents, errors."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgen
from jaxgen.diffusion import family as ddpm
from jaxgen.diffusion import samplers
from jaxgen.engine.loop import train
from jaxgen.errors import ConfigError

from conftest import TINY_VAE, run_cli, tiny_config
from test_engine import assert_same_state, train_rows
from jaxgen.engine.config import build_config

# A U-Net of a few thousand parameters and a short chain: the machinery, not quality.
TINY_DDPM = {"base_channels": 8, "channel_mults": "(1, 2)", "attention": False,
             "num_timesteps": 20, "sample_steps": 5, "vb_timesteps": 4, "mlp_width": 16,
             "mlp_blocks": 1}


ENGINE_KEYS = ("batch_size", "steps", "log_every", "eval_every", "sample_every", "ckpt_every",
               "eval_batches", "num_grid")


def tiny_ddpm(**overrides):
    values = {k: TINY_VAE[k] for k in ENGINE_KEYS} | TINY_DDPM | overrides
    return build_config("ddpm", overrides={k: str(v) for k, v in values.items()})


def test_cli_train_then_sample_with_sampler_overrides(tmp_path):
    workdir = str(tmp_path / "run")
    run_cli("train", "ddpm", "--workdir", workdir,
            *[f"--config.{k}={v}" for k, v in {**TINY_DDPM, "steps": 2, "conditional": True,
                                               "sample_every": 2}.items()])
    out = str(tmp_path / "s.npy")
    run_cli("sample", "--workdir", workdir, "--num", "3", "--out", out, "--config.sampler=ddpm",
            "--config.sample_steps=20", "--config.guidance=1.5")
    samples = np.load(out)
    assert samples.shape == (3, 28, 28, 1)
    assert samples.min() >= 0 and samples.max() <= 1


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    """On 2-D points (the MLP denoiser compiles in seconds; the engine path is the
    same as for images): params, Adam state, EMA, logs and samples all agree."""
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    config = functools.partial(tiny_ddpm, dataset="ring8", batch_size=16, log_every=1,
                               eval_every=100)
    train(config(steps=4), straight, progress=False)
    train(config(steps=2), split, progress=False)
    train(config(steps=4), split, progress=False)
    a, b = jaxgen.load(straight), jaxgen.load(split)
    assert_same_state(a.state, b.state)
    rows = lambda workdir: [r for r in train_rows(workdir) if r["split"] == "train"]  # noqa: E731
    assert rows(straight) == rows(split)
    key = jax.random.key(5)
    np.testing.assert_array_equal(a.sample(key, 3), b.sample(key, 3))
    assert a.sample(key, 3).shape == (3, 2)


def test_ema_follows_the_weights_with_a_warming_decay():
    """decay = min(ema_decay, (1 + step) / (10 + step)): 0.1 at step 0, ema_decay later."""
    config = tiny_ddpm(ema_decay=0.9)
    ema, params = {"w": jnp.zeros(3)}, {"w": jnp.ones(3)}
    np.testing.assert_allclose(ddpm.ema_update(config, ema, params, 0)["w"], 0.9, rtol=1e-6)
    np.testing.assert_allclose(ddpm.ema_update(config, ema, params, 1000)["w"], 0.1, rtol=1e-5)


@pytest.fixture(scope="module")
def tiny_state():
    config = tiny_ddpm(conditional=True)
    batch = {"image": np.zeros((8, 28, 28, 1), np.uint8), "label": np.zeros(8, np.int32)}
    return config, jax.jit(functools.partial(ddpm.init, config))(jax.random.key(0), batch)


def test_the_sampler_compiles_once_per_step_count(tiny_state, monkeypatch):
    """The whole chain is one program: the network is traced once per compilation,
    and new keys or labels do not recompile."""
    config, state = tiny_state
    traces = []
    make_model = ddpm.make_model

    def counting_model(cfg):
        model = make_model(cfg)
        original = model.apply
        return type("Counted", (), {"apply": lambda self, *a, **k: (traces.append(1),
                                                                    original(*a, **k))[1]})()

    monkeypatch.setattr(ddpm, "make_model", counting_model)
    fn = jax.jit(functools.partial(ddpm.sample, config), static_argnames="num")
    for i in range(3):
        fn(state, jax.random.key(i), num=2, cond=jnp.array([i, 1]))
    assert len(traces) == 1
    assert fn._cache_size() == 1


def test_guidance_mixes_conditional_and_unconditional_outputs(tiny_state):
    """make_predict_fn with w: (1 + w) out(x, y) - w out(x, none), from one doubled batch."""
    config, state = tiny_state
    params = state.ema_params
    apply = ddpm.make_model(config).apply
    x = jax.random.normal(jax.random.key(2), (3, 28, 28, 1))
    t = jnp.array([0, 7, 19])
    labels = jnp.array([1, 4, 9])
    cond = apply(params, x, t, labels)
    uncond = apply(params, x, t, jnp.full((3,), 10))
    w = 2.5
    guided = ddpm.make_predict_fn(tiny_ddpm(conditional=True, guidance=w), params, labels)(x, t)
    np.testing.assert_allclose(guided, (1 + w) * cond - w * uncond, atol=1e-4)
    plain = ddpm.make_predict_fn(config, params, labels)(x, t)
    np.testing.assert_allclose(plain, cond, atol=1e-6)


def test_log_likelihood_is_a_finite_bound_per_example(tiny_state):
    config, state = tiny_state
    batch = {"image": np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1), np.uint8),
             "label": np.zeros(3, np.int32)}
    ll = ddpm.log_likelihood(config, state, batch, jax.random.key(0))
    assert ll.shape == (3,) and np.all(np.isfinite(ll)) and np.all(ll < 0)


def test_latent_diffusion_on_a_trained_vae(tmp_path):
    vae_dir = str(tmp_path / "vae")
    train(tiny_config("vae", latent_dim=3, steps=1), vae_dir, progress=False)
    run_dir = str(tmp_path / "latent")
    train(tiny_ddpm(latent_vae_workdir=vae_dir, steps=2), run_dir, progress=False)
    run = jaxgen.load(run_dir)
    vae_params = jaxgen.load(vae_dir).state.params
    assert_same_state(run.state.extra["vae_params"], vae_params)  # carried, not trained
    samples = run.sample(jax.random.key(0), 2)
    assert samples.shape == (2, 28, 28, 1)
    with pytest.raises(ConfigError, match="pixel-space"):
        ddpm.log_likelihood(run.config, run.state, {"image": np.zeros((1, 28, 28, 1), np.uint8)},
                            jax.random.key(0))


@pytest.mark.parametrize("overrides,message", [
    ({"prediction": "score"}, "prediction must be one of"),
    ({"sampler": "euler"}, "sampler must be one of"),
    ({"schedule": "sigmoid"}, "schedule must be one of"),
    ({"sample_steps": 0}, "sample_steps must be in"),
    ({"eta": -1.0}, "eta must be >= 0"),
    ({"guidance": 2.0}, "guidance > 0 needs a conditional model"),
    ({"conditional": True, "label_dropout": 1.0}, "label_dropout must be in"),
    ({"channel_mults": "(1, 2, 2, 2)"}, "channel_mults"),
    ({"vb_timesteps": 1}, "vb_timesteps"),
    ({"sample_steps": 21}, "sample_steps must be in"),
    ({"latent_vae_workdir": "/nonexistent/vae"}, "is not a directory"),
])
def test_bad_config_values_are_clear_errors(overrides, message, tmp_path):
    config = tiny_ddpm(**overrides)
    batch = {"image": np.zeros((2, 28, 28, 1), np.uint8), "label": np.zeros(2, np.int32)}
    with pytest.raises(ConfigError, match=message):
        ddpm.init(config, jax.random.key(0), batch)


def test_timesteps_for_the_sample_grid_are_evenly_spread():
    assert list(samplers.timestep_sequence(20, 5)) == [0, 5, 10, 14, 19]
