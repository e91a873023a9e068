"""The one training loop every family runs (DESIGN.md, "Engine")."""
from __future__ import annotations

import functools
import math
import os
import signal
import sys
import threading
import time

import jax
import numpy as np

from jaxgen import data, registry
from jaxgen.data import text as text_data
from jaxgen.engine import config as config_lib
from jaxgen.engine import distributed
from jaxgen.engine import sharding
from jaxgen.engine import workdir as workdir_lib
from jaxgen.engine.checkpoint import Checkpointer, move_aside
from jaxgen.engine.images import plot_metrics, save_image_grid, save_points
from jaxgen.engine.keys import run_keys, step_key
from jaxgen.engine.logging import MetricsLogger, Progress
from jaxgen.errors import CheckpointError, ConfigError, NonFiniteLossError

# Keys that may change when a run is resumed: they schedule the work but do
# not change what is computed at any step (`fsdp` says where the state is
# kept, as the device count does; sums change order only).
RESUMABLE_KEYS = ("steps", "log_every", "sample_every", "ckpt_every", "eval_every",
                  "eval_batches", "steps_per_call", "num_grid", "max_to_keep", "fsdp",
                  "metrics_every", "metrics", "metrics_num")


def read_saved_config(workdir: str):
    """The config.json of `workdir` (None if there is none), as a ConfigDict."""
    path = os.path.join(workdir, "config.json")
    if not os.path.lexists(path):
        return None
    try:
        return config_lib.from_json(workdir_lib.read_text(path))
    except ValueError as err:
        raise CheckpointError(f"{path} is not a readable jaxgen config ({err}); restore it "
                              "from a backup, or train in a new --workdir") from None


def reconcile_config(config, workdir: str):
    """Refuse to continue a run in `workdir` with a config that computes something else.

    The saved config is read through `config.complete`, so keys added or
    renamed since it was written compare by their current names and defaults.
    """
    saved = read_saved_config(workdir)
    if saved is None:
        return config
    saved = config_lib.complete(saved, registry.get(config.family))
    new_flat = config_lib.flatten(config.to_dict())
    old_flat = config_lib.flatten(saved.to_dict())
    differing = sorted(k for k in set(new_flat) | set(old_flat)
                       if k not in RESUMABLE_KEYS
                       and _normalise(new_flat.get(k)) != _normalise(old_flat.get(k)))
    if differing:
        details = "; ".join(f"{k}: saved {old_flat.get(k)!r}, given {new_flat.get(k)!r}"
                            for k in differing[:5])
        raise ConfigError(
            f"the config given differs from the one the checkpoints in {workdir} were trained "
            f"with ({details}); the checkpoints are fine: to resume, give the saved values "
            "(config.json); to train the new config, use a new --workdir. Only "
            + ", ".join(RESUMABLE_KEYS) + " may change on resume")
    refuse_schedule_change(old_flat, new_flat, workdir)
    return config


def steps_scheduled_keys(flat: dict) -> list[str]:
    """The `optim` blocks whose learning-rate decay spans the run's `steps`
    (decay_steps = 0 with a decaying schedule): for them `steps` is part of
    what every step computes."""
    return sorted(key[:-len("decay_steps")] + "schedule" for key, value in flat.items()
                  if key.endswith("decay_steps") and value == 0
                  and flat.get(key[:-len("decay_steps")] + "schedule", "constant") != "constant")


def refuse_schedule_change(old_flat: dict, new_flat: dict, workdir: str) -> None:
    if old_flat.get("steps") == new_flat.get("steps"):
        return
    spanning = steps_scheduled_keys(old_flat)
    if spanning:
        raise ConfigError(
            f"the run in {workdir} was trained with steps={old_flat['steps']}, and "
            f"{spanning[0]}={old_flat[spanning[0]]!r} decays the learning rate over the whole "
            f"run ({spanning[0][:-len('schedule')]}decay_steps=0): with steps="
            f"{new_flat['steps']} every step's learning rate would differ from the one it was "
            f"trained with. Resume with --config.steps={old_flat['steps']}, or train the longer "
            "schedule in a new --workdir")


def _normalise(value):
    if isinstance(value, float) and math.isnan(value):
        return "nan"  # NaN != NaN, yet a saved NaN is the same value as a given one
    return [_normalise(v) for v in value] if isinstance(value, (tuple, list)) else value


def write_config(config, workdir: str) -> None:
    if not distributed.is_primary():  # process 0 writes the workdir's files
        return
    workdir_lib.write_atomically(os.path.join(workdir, "config.json"),
                                 config_lib.to_json(config))


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
        self.last_losses = {}

    def add(self, metrics: dict, count: int) -> None:
        for name, value in metrics.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(np.sum(value))
        self.count += count
        # The progress bar shows every loss (a GAN has g_loss and d_loss, no `loss`).
        self.last_losses = {name: float(np.ravel(value)[-1]) for name, value in metrics.items()
                            if name == "loss" or name.endswith("_loss")}

    def means(self) -> dict:
        return {name: total / max(self.count, 1) for name, total in self.sums.items()}


def _check_finite(metrics: dict, first_step: int, stacked: bool, good: str) -> None:
    for name, value in metrics.items():
        value = np.asarray(value)
        if not np.all(np.isfinite(value)):
            offset = int(np.argmin(np.isfinite(value).reshape(len(value), -1).all(1))) \
                if stacked else 0
            raise NonFiniteLossError(
                f"non-finite {name} ({value.ravel()[offset]}) at step {first_step + offset + 1}; "
                f"training stopped, {good}. Lower the learning rate or check the data range")


class StopSignal(KeyboardInterrupt):
    """The run was stopped by a signal (Ctrl-C, SIGTERM) after saving; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _StopRequest:
    """Turns the first Ctrl-C or SIGTERM (what a cluster sends before
    preempting a job) into a flag the loop checks between steps, so the run
    stops at a step boundary with a consistent state to save; a second signal
    interrupts at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum = None
        self._previous = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise StopSignal(signum)
        self.signum = signum

    def __exit__(self, *exc):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


def _last_train_seconds(metrics_path: str) -> float:
    """`train_seconds` of the last row kept in metrics.jsonl (0 for a fresh run)."""
    from jaxgen.engine.logging import parse_row
    if not os.path.exists(metrics_path):
        return 0.0
    rows = [parse_row(line) for line in workdir_lib.read_text(metrics_path).splitlines()]
    seconds = [r["train_seconds"] for r in rows if r and "train_seconds" in r]
    return float(seconds[-1]) if seconds else 0.0


def _crossed(prev: int, now: int, every: int) -> bool:
    return now // every > prev // every


def evaluate(config, state, test_arrays, eval_key, mesh, eval_fn) -> dict:
    """Mean of eval_step over the first `eval_batches` test batches, in order."""
    b = config.batch_size
    num_batches = min(config.eval_batches, len(next(iter(test_arrays.values()))) // b)
    totals = {}
    for i in range(num_batches):
        batch = sharding.put_batch({k: v[i * b:(i + 1) * b] for k, v in test_arrays.items()}, mesh,
                                   debug_name="eval_batches")
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
        # Replicated results: every process holds the whole grid and the metrics.
        out = sharding.replicated(mesh)
        self.sample = (jax.jit(functools.partial(family.sample, config), static_argnames="num",
                               out_shardings=out)
                       if family.sample is not None else None)
        self.eval = (jax.jit(functools.partial(family.eval_step, config), out_shardings=out)
                     if family.eval_step else None)

    def train_call(self, k: int):
        if k not in self._calls:
            self._calls[k] = make_train_call(*self._args, steps_per_call=k)
        return self._calls[k]


def _say(message: str) -> None:
    """What the run is doing, on one line of stderr (also without a progress bar);
    in a multi-process run, from process 0 only."""
    if distributed.is_primary():
        print(message, file=sys.stderr, flush=True)


def train(config, workdir: str, *, progress: bool = True):
    """Train (or resume) the run in `workdir`; returns the final TrainState."""
    state, summary = train_run(config, workdir, progress=progress)
    if not summary.startswith("trained"):  # a finished run: say why nothing happened
        _say(summary)
    return state


def train_run(config, workdir: str, *, progress: bool = True):
    """`train`, returning (state, a one-line summary of what was done).

    Nothing is written to `workdir` before the config has passed every check
    (the common keys here, the family's own in `init`): config.json is
    written with the first checkpoint, so a rejected config leaves no trace
    that would block the corrected retry. One trainer at a time holds the
    workdir (workdir.TrainerLock).
    """
    family = registry.get(config.family)
    config_lib.validate_common(config)
    workdir_lib.prepare(workdir)
    with workdir_lib.TrainerLock(workdir, distributed.process_index()):
        return _train_locked(family, config, workdir, progress)


def _abstract_state(family, config):
    """The TrainState's shapes and dtypes, from the data spec alone (`init` is
    traced, not run: the family checks its config here)."""
    batch = data.spec(config).batch_shapes(config.batch_size)
    return jax.eval_shape(functools.partial(family.init, config),
                          run_keys(config.seed).init, batch)


def _resume_template(abstract, state_sharding):
    """The TrainState's shapes and placement, leaf by leaf: a resumed run
    restores every leaf straight into its shards, so the initialisation is
    never run."""
    return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                        abstract, state_sharding)


class _PeriodicMetrics:
    """`jaxgen eval`'s sample metrics at intervals during training.

    The names are resolved (and refused) before the first step. Every
    evaluation draws its samples from the same key (the grids' fixed key), so
    the points of one curve differ by the model, not by the noise. The seconds
    spent here are left out of `train_seconds`.
    """

    def __init__(self, family, config, workdir: str, sample_key):
        from jaxgen.engine.run import Run
        from jaxgen.metrics import evaluations
        self._evaluations = evaluations
        self._run = Run(workdir=workdir, config=config, family=family, state=None)
        requested = [m.strip() for m in config.metrics.split(",") if m.strip()]
        if "pictures" in requested:
            raise ConfigError("config key 'metrics': 'pictures' is not a metric to log")
        self._names = evaluations.resolve(self._run, requested)
        self._num, self._key = config.metrics_num, sample_key
        self.seconds = 0.0

    def __call__(self, state) -> dict:
        start = time.perf_counter()
        self._run.state = state
        values = self._evaluations.evaluate(self._run, self._names, self._key, self._num)
        self.seconds += time.perf_counter() - start
        return {k: v for k, v in values.items() if k != "extractor"}


def _prepare_data(config):
    _say(f"preparing the data ({config.dataset}; the first use of a dataset converts it "
         "once, later runs read the cache)")
    # Several processes on one host share the cache: process 0 converts a
    # dataset's first use alone, the others read what it wrote.
    if not distributed.is_primary():
        distributed.barrier("jaxgen_data_ready")
    sides = data.train_data(config)
    if distributed.is_primary():
        distributed.barrier("jaxgen_data_ready")
    return sides


def _train_locked(family, config, workdir, progress):
    mesh = sharding.make_mesh(config.fsdp)
    sharding.check_batch_size(config.batch_size, mesh)
    keys = run_keys(config.seed)
    k = config.steps_per_call
    resuming = bool(Checkpointer.saved_steps(workdir))
    if resuming:
        # config.json belongs to the checkpoints; without any, it is a
        # leftover of a run that failed before its first save.
        config = reconcile_config(config, workdir)
    # The family checks its config while `init` is traced: before anything is written.
    phases = phase_configs(family, config)
    abstract = _abstract_state(family, config)
    # Replicated with fsdp = 1; else every array split over the `fsdp` axis where it divides.
    state_sharding = sharding.state_sharding(mesh, abstract)
    template = _resume_template(abstract, state_sharding)
    periodic_metrics = (_PeriodicMetrics(family, config, workdir, keys.sample)
                        if config.metrics_every else None)  # unknown names: refused here
    train_sides = None
    if not resuming:  # a missing dataset is refused before checkpoints/ exists
        train_sides = _prepare_data(config)

    checkpointer = Checkpointer(workdir, config.max_to_keep)
    logger = MetricsLogger(workdir, enabled=distributed.is_primary())
    state = position = None
    try:
        if resuming:
            state, position = checkpointer.restore(template)
            if checkpointer.damaged:  # out of the way of the saves to come, kept
                distributed.barrier("jaxgen_restored")  # every process has read them
                if distributed.is_primary():
                    moved = move_aside(checkpointer.directory, checkpointer.damaged, workdir)
                    _say(f"moved the damaged checkpoint(s) to {', '.join(moved)}")
                checkpointer.close()
                checkpointer = Checkpointer(workdir, config.max_to_keep)
            step = int(state.step)
            logger.drop_after(step)
            if step >= config.steps:
                summary = (f"{workdir} is already trained to step {step}"
                           + (f", beyond steps={config.steps}: nothing was trained (raise "
                              "--config.steps to train further)" if step > config.steps
                              else " = steps: nothing to do"))
                return state, summary
        else:
            logger.drop_after(0)  # rows of a run killed before its first checkpoint
    except BaseException:
        logger.close()
        checkpointer.close()
        raise

    if train_sides is None:
        train_sides = _prepare_data(config)
    if state is None:
        sample_batch = data.first_batch(config, train_sides, config.batch_size)
        init = jax.jit(functools.partial(family.init, config), out_shardings=state_sharding)
        state = init(keys.init, sample_batch)
    step = int(state.step)
    iterator = data.make_iterator(config, train_sides, config.batch_size, keys.data, position)
    local = getattr(iterator, "process_local", False)  # a streamed iterator yields its share

    calls = [_PhaseCalls(family, phase_config, keys, state_sharding, mesh)
             for _, phase_config in phases]
    needs_test = any(c.eval is not None for c in calls)
    test_arrays = data.load_split(config, "test") if needs_test else None
    if position is not None:
        _say(f"resumed {workdir} from step {step}")
    config_written = False
    # Training seconds of the whole run, carried across resumes by the log.
    seconds_before = _last_train_seconds(logger.path)
    session_start = time.perf_counter()

    def train_seconds() -> float:
        measuring = periodic_metrics.seconds if periodic_metrics is not None else 0.0
        return seconds_before + time.perf_counter() - session_start - measuring

    def save_checkpoint(at_step: int, state, position) -> None:
        nonlocal config_written
        checkpointer.require_finite(at_step, state)
        if not config_written:  # config.json goes with the run's first checkpoint
            write_config(config, workdir)
            config_written = True
        checkpointer.save(at_step, state, position, checked=True)
        distributed.maybe_die_after_checkpoint(at_step)  # a test's hook, off by default

    def phase_index(at_step: int) -> int:
        return next(i for i, (p, _) in enumerate(phases)
                    if p.end is None or at_step < p.end)

    def save_samples(name: str, phase: int) -> str | None:
        sample_fn = calls[phase].sample
        if sample_fn is None:  # a family that does not generate (the classifier)
            return None
        images = sample_fn(state, keys.sample, num=config.num_grid)  # every process
        path = os.path.join(workdir, "samples", name)
        if not distributed.is_primary():
            return path
        if data.kind(config) == "tokens":  # token ids [N, T]: decoded, one sample a line
            path = os.path.splitext(path)[0] + ".txt"
            text_data.write_samples(path, text_data.decode_samples(config, jax.device_get(images)))
        elif np.asarray(images).ndim == 4:
            save_image_grid(path, images)
        else:  # 2-D toy data: points [N, 2]
            os.makedirs(os.path.dirname(path), exist_ok=True)
            save_points(path, images, title=name)
        return path

    window, pending, state_position = _Window(), None, iterator.position
    last_phase = phase_index(min(step, config.steps - 1)) if config.steps else 0
    last_grid = None  # the grid sampled at the last step: final.png is a copy of it

    def absorb(item) -> None:
        first_step, metrics, count = item
        metrics = jax.device_get(metrics)
        _check_finite(metrics, first_step, count > 1, checkpointer.last_good_message())
        window.add(metrics, count)

    bar = None
    with _StopRequest() as stop:
        try:
            _say("compiling the train step (the first step waits for it; a minute or more "
                 "on a CPU for a large model)")
            bar = Progress(total=config.steps, initial=step,
                           enabled=progress and distributed.is_primary())
            while step < config.steps:
                # A signal may reach some processes only: all stop at the same step.
                if distributed.any_process(stop.requested):
                    raise StopSignal(stop.signum or signal.SIGTERM)
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
                    batch = sharding.put_batch(iterator.next_stacked(count), mesh, stacked=True,
                                               process_local=local)
                else:
                    batch = sharding.put_batch(next(iterator), mesh, process_local=local)
                state, metrics = calls[index].train_call(count)(state, batch)  # runs on device
                previous, pending = pending, (step, metrics, count)
                prev, step = step, step + count
                state_position = iterator.position  # where the batches after `state` start
                if previous is not None:
                    absorb(previous)  # the host checks call n-1 while the device runs call n
                bar.update(step, window.last_losses)

                last = step >= config.steps
                due = {name: last or _crossed(prev, step, config[f"{name}_every"])
                       for name in ("log", "eval", "sample", "ckpt")}
                if any(due.values()):
                    absorb(pending)
                    pending = None
                if due["log"]:
                    rate = window.count / max(time.perf_counter() - window.start, 1e-9)
                    from_state = (family.train_log(phase_config, state)
                                  if family.train_log is not None else {})
                    logger.write(step, "train", {**window.means(), **from_state,
                                                 "steps_per_sec": rate,
                                                 "train_seconds": train_seconds()})
                    window = _Window()
                if due["eval"] and calls[index].eval is not None:
                    values = evaluate(phase_config, state, test_arrays,
                                      jax.random.fold_in(keys.eval, step), mesh, calls[index].eval)
                    logger.write(step, "test", values)
                if periodic_metrics is not None and (
                        last or _crossed(prev, step, config.metrics_every)):
                    seconds = train_seconds()
                    bar.write(f"step {step}: evaluating {config.metrics} on "
                              f"{config.metrics_num} samples")
                    logger.write(step, "metrics", {**periodic_metrics(state),
                                                   "train_seconds": seconds})
                if due["sample"]:
                    grid = save_samples(f"step_{step:07d}.png", index)
                    last_grid = grid if last else None
                if due["ckpt"]:
                    save_checkpoint(step, state, iterator.position)
        except KeyboardInterrupt as interrupt:
            # Keep what was trained: save the last completed step if its losses
            # (and the state itself) are finite. After a second signal inside
            # a step, `state` may have been donated to a call whose result
            # never came back: its buffers are gone, so the last checkpoint is
            # what remains.
            say = bar.write if bar is not None else _say
            what = ("interrupted" if not isinstance(interrupt, StopSignal)
                    or interrupt.signum == signal.SIGINT else
                    f"stopped by {signal.Signals(interrupt.signum).name}")
            if any(leaf.is_deleted() for leaf in jax.tree.leaves(state)):
                say(f"{what}: kept the last checkpoint ({checkpointer.last_good_message()})")
                raise
            if pending is not None:
                absorb(pending)
            if checkpointer.latest_step() != int(state.step):
                save_checkpoint(int(state.step), state, state_position)
            say(f"{what}: saved a checkpoint at step {int(state.step)}; run the same command "
                "to resume")
            raise
        finally:
            if bar is not None:
                bar.close()
            logger.close()
            checkpointer.close()
            # The curves also after Ctrl-C or a non-finite loss: that is when
            # they are most wanted.
            if distributed.is_primary():
                plot_metrics(logger.path, os.path.join(workdir, "metrics.png"))

    if os.environ.get(distributed.DEBUG_DIR):  # the tests compare every process's copy
        distributed.debug_record("state", {"step": int(state.step),
                                           "hash": distributed.local_state_hash(state)})
    if last_grid is not None:  # sampled once, at the last step: copied, not sampled again
        if distributed.is_primary():
            final = os.path.join(workdir, "samples", "final" + os.path.splitext(last_grid)[1])
            with open(last_grid, "rb") as f:
                workdir_lib.write_atomically(final, f.read())
    else:  # every process samples (one global computation); process 0 writes
        save_samples("final.png", last_phase)
    return state, f"trained {config.family} to step {int(state.step)}"


__all__ = ["train", "train_run", "reconcile_config", "phase_configs", "RESUMABLE_KEYS"]
