"""Training phases (registry.Phase): each phase trains with its own config
values, a family's phase_start runs once on entering a phase, fused calls
never cross a phase's end, and a resume anywhere (inside a phase or at its
first step) equals the uninterrupted run bit for bit."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgen
from jaxgen import registry
from jaxgen.engine import config as config_lib
from jaxgen.engine.loop import train
from jaxgen.engine.state import TrainState
from jaxgen.errors import ConfigError

NAME = "test_phased"
BOUNDARY = 3  # phase "small" covers steps [0, 3), phase "large" [3, steps)


def default_config():
    c = config_lib.base_config()
    c.family = NAME
    c.dataset = "ring8"
    c.batch_size = 4
    c.steps = 6
    c.scale = 1.0                 # set per phase
    c.ckpt_every = 1
    c.log_every = 1
    c.sample_every = 100
    c.eval_every = 100
    return c


def init(config, key, batch):
    params = {"w": jax.random.normal(key, (2,))}
    return TrainState.create(params, optax.sgd(0.1).init(params), extra={"entered": 0})


def train_step(config, state, batch, key):
    """w moves by scale * (mean point + noise): the phase's scale is visible in w."""
    step = config.scale * (jnp.mean(batch["point"], 0) + 0.01 * jax.random.normal(key, (2,)))
    params = {"w": state.params["w"] + step}
    return state.replace(params=params), {"loss": jnp.sum(params["w"] ** 2)}


def phases(config):
    return [registry.Phase("small", BOUNDARY, {"scale": 1.0}),
            registry.Phase("large", None, {"scale": 100.0})]


def phase_start(config, state, index):
    """Counts phase entries: a resume at a phase's first step must enter it once."""
    return state.replace(extra={"entered": state.extra["entered"] + 10 ** index})


@pytest.fixture(autouse=True)
def phased_family():
    registry.register(registry.Family(
        name=NAME, description="test family with two phases", default_config=default_config,
        init=init, train_step=train_step, phases=phases, phase_start=phase_start))
    yield
    registry._REGISTRY.pop(NAME)


def build(**overrides):
    return config_lib.build_config(NAME, overrides={k: str(v) for k, v in overrides.items()})


def state_of(workdir):
    return jax.tree.map(np.asarray, jaxgen.load(workdir).state)


def test_phases_apply_their_values_and_enter_once(tmp_path):
    train(build(), str(tmp_path / "run"), progress=False)
    state = state_of(str(tmp_path / "run"))
    assert int(state.extra["entered"]) == 1 + 10  # each phase entered exactly once
    # Steps after the boundary move w 100x further than those before it.
    assert np.abs(state.params["w"]).max() > 50


@pytest.mark.parametrize("stop_at", [2, BOUNDARY, 4])
def test_resume_inside_or_at_a_phase_equals_the_uninterrupted_run(tmp_path, stop_at):
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    train(build(), straight, progress=False)
    train(build(steps=stop_at), split, progress=False)
    train(build(), split, progress=False)
    a, b = state_of(straight), state_of(split)
    jax.tree.map(np.testing.assert_array_equal, a, b)


def test_fused_calls_stop_at_a_phase_end(tmp_path):
    """steps_per_call=2 with a phase ending at step 3: step 3 runs alone, so
    the fused run is the single-step run."""
    single, fused = str(tmp_path / "single"), str(tmp_path / "fused")
    train(build(), single, progress=False)
    train(build(steps_per_call=2), fused, progress=False)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6),
                 state_of(single), state_of(fused))


def test_phases_must_reach_the_run_end(tmp_path):
    registry._REGISTRY[NAME] = registry.Family(
        name=NAME, description="", default_config=default_config, init=init,
        train_step=train_step, phases=lambda c: [registry.Phase("only", 2)])
    with pytest.raises(ConfigError, match="phases end at steps"):
        train(build(steps=5), str(tmp_path / "run"), progress=False)
