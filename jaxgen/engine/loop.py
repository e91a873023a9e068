"""The one training loop every family runs (DESIGN.md, "Engine")."""
from __future__ import annotations

import functools
import os
import signal
import threading
import time

import jax
import numpy as np

from jaxgen import data, registry
from jaxgen.data import text as text_data
from jaxgen.engine import config as config_lib
from jaxgen.engine import sharding
from jaxgen.engine.checkpoint import Checkpointer
from jaxgen.engine.images import plot_metrics, save_image_grid, save_points
from jaxgen.engine.keys import run_keys, step_key
from jaxgen.engine.logging import MetricsLogger, Progress
from jaxgen.errors import ConfigError, NonFiniteLossError

# Keys that may change when a run is resumed: they schedule the work but do
# not change what is computed at any step.
RESUMABLE_KEYS = ("steps", "log_every", "sample_every", "ckpt_every", "eval_every",
                  "eval_batches", "steps_per_call", "num_grid", "max_to_keep")


def reconcile_config(config, workdir: str):
    """Refuse to continue a run in `workdir` with a config that computes something else.

    The saved config is read through `config.complete`, so keys added or
    renamed since it was written compare by their current names and defaults.
    """
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return config
    with open(path) as f:
        saved = config_lib.from_json(f.read())
    saved = config_lib.complete(saved, registry.get(config.family))
    new_flat = config_lib.flatten(config.to_dict())
    old_flat = config_lib.flatten(saved.to_dict())
    differing = sorted(k for k in set(new_flat) | set(old_flat)
                       if k not in RESUMABLE_KEYS
                       and _normalise(new_flat.get(k)) != _normalise(old_flat.get(k)))
    if differing:
        details = "; ".join(f"{k}: saved {old_flat.get(k)!r}, given {new_flat.get(k)!r}"
                            for k in differing[:5])
        raise ConfigError(f"{workdir} holds a run with a different config ({details}); "
                          "use a new --workdir, or change only " + ", ".join(RESUMABLE_KEYS))
    return config


def _normalise(value):
    return list(value) if isinstance(value, tuple) else value


def write_config(config, workdir: str) -> None:
    path = os.path.join(workdir, "config.json")
    with open(path + ".tmp", "w") as f:
        f.write(config_lib.to_json(config))
    os.replace(path + ".tmp", path)


def make_train_call(family, config, train_key, state_sharding, mesh, steps_per_call=None):
    """jit(train_step) with the state donated; with steps_per_call = k > 1
    (default: the config's), k steps run inside one `lax.scan` over a
    [k, B, ...] stack of batches."""
    fused = config.steps_per_call if steps_per_call is None else steps_per_call

    def one_step(state, batch):
        new_state, metrics = family.train_step(config, state, batch, step_key(train_key, state.step))
        return new_state.replace(step=state.step + 1), metrics

    fn = one_step
    if fused > 1:
        fn = lambda state, batches: jax.lax.scan(one_step, state, batches)  # noqa: E731
    return jax.jit(fn, donate_argnums=0,
                   out_shardings=(state_sharding, sharding.replicated(mesh)))


class _Window:
    """Running sums of host metrics between two log lines."""

    def __init__(self):
        self.sums, self.count, self.start = {}, 0, time.perf_counter()
        self.last_loss = None

    def add(self, metrics: dict, count: int) -> None:
        for name, value in metrics.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(np.sum(value))
        self.count += count
        if "loss" in metrics:
            self.last_loss = float(np.ravel(metrics["loss"])[-1])

    def means(self) -> dict:
        return {name: total / max(self.count, 1) for name, total in self.sums.items()}


def _check_finite(metrics: dict, first_step: int, stacked: bool) -> None:
    for name, value in metrics.items():
        value = np.asarray(value)
        if not np.all(np.isfinite(value)):
            offset = int(np.argmin(np.isfinite(value).reshape(len(value), -1).all(1))) \
                if stacked else 0
            raise NonFiniteLossError(
                f"non-finite {name} ({value.ravel()[offset]}) at step {first_step + offset + 1}; "
                "training stopped, the last good checkpoint is kept. Lower the learning rate "
                "or check the data range")


class _StopRequest:
    """Turns the first Ctrl-C into a flag the loop checks between steps, so the
    run stops at a step boundary with a consistent state to save; a second
    Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _crossed(prev: int, now: int, every: int) -> bool:
    return now // every > prev // every


def evaluate(config, state, test_arrays, eval_key, mesh, eval_fn) -> dict:
    """Mean of eval_step over the first `eval_batches` test batches, in order."""
    b = config.batch_size
    num_batches = min(config.eval_batches, len(next(iter(test_arrays.values()))) // b)
    totals = {}
    for i in range(num_batches):
        batch = sharding.put_batch({k: v[i * b:(i + 1) * b] for k, v in test_arrays.items()}, mesh)
        metrics = jax.device_get(eval_fn(state, batch, jax.random.fold_in(eval_key, i)))
        for name, value in metrics.items():
            totals[name] = totals.get(name, 0.0) + float(value) / num_batches
    return totals


def phase_configs(family, config) -> list:
    """[(Phase, config with the phase's overrides)], checked: ends increase and
    the last one is open (end None) or reaches `steps`."""
    phases = family.run_phases(config)
    ends = [p.end for p in phases]
    closed = [e for e in ends if e is not None]
    if (not phases or None in ends[:-1] or closed != sorted(set(closed))
            or (ends[-1] is not None and ends[-1] < config.steps)):
        raise ConfigError(f"{config.family}: phases end at steps {ends}; they must increase "
                          f"and the last must be open (None) or reach steps={config.steps}")
    return [(p, config_lib.apply_overrides(config, dict(p.overrides), from_string=False))
            for p in phases]


def phase_end(phase, config) -> int:
    return config.steps if phase.end is None else min(phase.end, config.steps)


class _PhaseCalls:
    """The jitted functions of one phase, compiled on first use."""

    def __init__(self, family, config, keys, state_sharding, mesh):
        self.config = config
        self._args = (family, config, keys.train, state_sharding, mesh)
        self._calls = {}
        self.sample = (jax.jit(functools.partial(family.sample, config), static_argnames="num")
                       if family.sample is not None else None)
        self.eval = (jax.jit(functools.partial(family.eval_step, config))
                     if family.eval_step else None)

    def train_call(self, k: int):
        if k not in self._calls:
            self._calls[k] = make_train_call(*self._args, steps_per_call=k)
        return self._calls[k]


def train(config, workdir: str, *, progress: bool = True):
    """Train (or resume) the run in `workdir`; returns the final TrainState."""
    family = registry.get(config.family)
    config_lib.validate_common(config)
    os.makedirs(workdir, exist_ok=True)
    config = reconcile_config(config, workdir)
    phases = phase_configs(family, config)
    mesh = sharding.make_mesh()
    sharding.check_batch_size(config.batch_size, mesh)
    keys = run_keys(config.seed)
    k = config.steps_per_call

    train_sides = data.train_data(config)
    write_config(config, workdir)
    state_sharding = sharding.replicated(mesh)
    sample_batch = data.first_batch(config, train_sides, config.batch_size)
    init = jax.jit(functools.partial(family.init, config), out_shardings=state_sharding)
    state = init(keys.init, sample_batch)

    checkpointer = Checkpointer(workdir, config.max_to_keep)
    logger = MetricsLogger(workdir)
    position = None
    if checkpointer.latest_step() is not None:
        state, position = checkpointer.restore(state)
        logger.drop_after(int(state.step))
    step = int(state.step)
    iterator = data.make_iterator(config, train_sides, config.batch_size, keys.data, position)

    calls = [_PhaseCalls(family, phase_config, keys, state_sharding, mesh)
             for _, phase_config in phases]
    needs_test = any(c.eval is not None for c in calls)
    test_arrays = data.load_split(config, "test") if needs_test else None
    bar = Progress(total=config.steps, initial=step, enabled=progress)
    if position is not None:
        bar.write(f"resumed {workdir} from step {step}")

    def phase_index(at_step: int) -> int:
        return next(i for i, (p, _) in enumerate(phases)
                    if p.end is None or at_step < p.end)

    def save_samples(name: str, phase: int) -> None:
        sample_fn = calls[phase].sample
        if sample_fn is None:  # a family that does not generate (the classifier)
            return
        images = sample_fn(state, keys.sample, num=config.num_grid)
        path = os.path.join(workdir, "samples", name)
        if data.kind(config) == "tokens":  # token ids [N, T]: decoded, one sample a line
            text_data.write_samples(os.path.splitext(path)[0] + ".txt",
                                    text_data.decode_samples(config, jax.device_get(images)))
        elif np.asarray(images).ndim == 4:
            save_image_grid(path, images)
        else:  # 2-D toy data: points [N, 2]
            os.makedirs(os.path.dirname(path), exist_ok=True)
            save_points(path, images, title=name)

    window, pending, state_position = _Window(), None, iterator.position
    last_phase = phase_index(min(step, config.steps - 1)) if config.steps else 0

    def absorb(item) -> None:
        first_step, metrics, count = item
        metrics = jax.device_get(metrics)
        _check_finite(metrics, first_step, stacked=count > 1)
        window.add(metrics, count)

    with _StopRequest() as stop:
        try:
            while step < config.steps:
                if stop.requested:
                    raise KeyboardInterrupt
                index = phase_index(step)
                phase, phase_config = phases[index]
                last_phase = index
                start = phases[index - 1][0].end if index else 0
                if step == start and family.phase_start is not None:
                    # Entering a phase (fresh or resumed at its first step): the
                    # family's transition, e.g. a newly grown block's weights.
                    state = jax.jit(lambda s: family.phase_start(phase_config, s, index))(state)
                # A fused call never crosses the end of a phase or of the run.
                count = k if phase_end(phase, config) - step >= k else 1
                if count > 1:
                    batch = sharding.put_batch(iterator.next_stacked(count), mesh, stacked=True)
                else:
                    batch = sharding.put_batch(next(iterator), mesh)
                state, metrics = calls[index].train_call(count)(state, batch)  # runs on device
                previous, pending = pending, (step, metrics, count)
                prev, step = step, step + count
                state_position = iterator.position  # where the batches after `state` start
                if previous is not None:
                    absorb(previous)  # the host checks call n-1 while the device runs call n
                bar.update(step, window.last_loss)

                last = step >= config.steps
                due = {name: last or _crossed(prev, step, config[f"{name}_every"])
                       for name in ("log", "eval", "sample", "ckpt")}
                if any(due.values()):
                    absorb(pending)
                    pending = None
                if due["log"]:
                    rate = window.count / max(time.perf_counter() - window.start, 1e-9)
                    logger.write(step, "train", {**window.means(), "steps_per_sec": rate})
                    window = _Window()
                if due["eval"] and calls[index].eval is not None:
                    values = evaluate(phase_config, state, test_arrays,
                                      jax.random.fold_in(keys.eval, step), mesh, calls[index].eval)
                    logger.write(step, "test", values)
                if due["sample"]:
                    save_samples(f"step_{step:07d}.png", index)
                if due["ckpt"]:
                    checkpointer.save(step, state, iterator.position)
        except KeyboardInterrupt:
            # Keep what was trained: save the last completed step if its losses
            # are finite. After a second Ctrl-C inside a step, `state` may have
            # been donated to a call whose result never came back: its buffers
            # are gone, so the last checkpoint is what remains.
            if any(leaf.is_deleted() for leaf in jax.tree.leaves(state)):
                bar.write("interrupted: kept the last checkpoint")
                raise
            if pending is not None:
                absorb(pending)
            checkpointer.save(int(state.step), state, state_position)
            bar.write(f"interrupted: saved a checkpoint at step {int(state.step)}")
            raise
        finally:
            bar.close()
            logger.close()
            checkpointer.close()
            # The curves also after Ctrl-C or a non-finite loss: that is when
            # they are most wanted.
            plot_metrics(logger.path, os.path.join(workdir, "metrics.png"))

    save_samples("final.png", last_phase)
    return state


__all__ = ["train", "reconcile_config", "phase_configs", "RESUMABLE_KEYS"]
