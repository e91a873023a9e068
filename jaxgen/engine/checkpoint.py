"""Orbax checkpoints of the whole TrainState plus the data-iterator position.

Orbax writes each step into a temporary folder and renames it when complete,
so a run killed at any moment (kill -9 included) leaves either a whole
checkpoint or none; unfinished temporaries are removed when a trainer starts.

On top of that, for damage orbax cannot see:
- every saved step gets a list of SHA-256 sums of its files (written after
  orbax finished it); restoring checks them, and checks that every restored
  floating-point array is finite (a bit flip in a float is most often still
  a number, but one in an exponent makes inf or NaN);
- a damaged newest checkpoint (sums, unreadable files, non-finite values)
  makes `restore` fall back to the newest readable one, with a warning that
  names the step used; nothing is deleted;
- a state holding NaN or inf is never saved, so every checkpoint on disk is
  one that was checked finite.

In a multi-process run every process calls `save` and `restore` (orbax writes
each process's shards and synchronises them); process 0 alone removes
unfinished temporaries and writes the checksum list, and `save` returns on
every process only once the step is complete, its sums included.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxgen.engine import distributed
from jaxgen.engine import workdir as workdir_lib
from jaxgen.errors import CheckpointError, NonFiniteLossError

CHECKSUMS = "jaxgen_checksums.json"
_TMP_MARK = "orbax-checkpoint-tmp"


class DamagedCheckpoint(CheckpointError):
    """A checkpoint whose files are unreadable, altered or hold non-finite values."""


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), "checkpoints")


def _warn(message: str) -> None:
    print(f"jaxgen: warning: {message}", file=sys.stderr)


def non_finite_leaves(tree) -> list[str]:
    """Paths of the floating-point leaves of `tree` holding NaN or inf."""
    bad = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        if not _all_finite(leaf):
            bad.append(jax.tree_util.keystr(path))
    return bad


def _all_finite(leaf) -> bool:
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        # Sharded over several processes: reduce on the devices, every
        # process taking part, instead of fetching what this one cannot see.
        if not jax.dtypes.issubdtype(leaf.dtype, np.inexact):
            return True
        replicated = jax.sharding.NamedSharding(leaf.sharding.mesh, jax.sharding.PartitionSpec())
        return bool(jax.jit(lambda x: jax.numpy.isfinite(x).all(),
                            out_shardings=replicated)(leaf))
    value = np.asarray(jax.device_get(leaf))
    return not (np.issubdtype(value.dtype, np.inexact) and not np.all(np.isfinite(value)))


def file_sums(step_dir: str) -> dict:
    """{relative path: sha256} of every file under a step folder but the list itself."""
    sums = {}
    for root, _, files in os.walk(step_dir):
        for name in sorted(files):
            path = os.path.join(root, name)
            relative = os.path.relpath(path, step_dir)
            if relative == CHECKSUMS:
                continue
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            sums[relative] = digest.hexdigest()
    return sums


def verify_sums(step_dir: str) -> str | None:
    """None if the step's files match the sums written at save time (or it has
    none: a checkpoint of an older jaxgen); else what differs."""
    path = os.path.join(step_dir, CHECKSUMS)
    if not os.path.exists(path):
        return None
    try:
        saved = json.loads(workdir_lib.read_text(path))
    except (OSError, ValueError) as err:
        return f"its checksum list is unreadable ({err})"
    now = file_sums(step_dir)
    missing = sorted(set(saved) - set(now))
    if missing:
        return f"file {missing[0]} is missing"
    changed = sorted(k for k in saved if saved[k] != now[k])
    if changed:
        return f"file {changed[0]} differs from what was written (checksum)"
    return None


class Checkpointer:
    def __init__(self, workdir: str, max_to_keep: int = 3, create: bool = True):
        directory = checkpoint_dir(workdir)
        if not create and not os.path.isdir(directory):
            raise CheckpointError(f"no checkpoints in {workdir} (expected {directory}); "
                                  "train a run there first")
        if max_to_keep < 1:  # orbax would delete every checkpoint it writes
            raise CheckpointError(f"max_to_keep must be >= 1, got {max_to_keep}")
        if create:
            if distributed.is_primary():
                remove_partial_writes(directory)
            distributed.barrier("jaxgen_checkpointer_ready")  # nobody writes before that
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=create,
            # Synchronous saves: when `save` returns the step is on disk, so the
            # "at most the steps since the last checkpoint" promise is exact.
            enable_async_checkpointing=False)
        self._manager = ocp.CheckpointManager(directory, options=options)
        self.directory = directory
        self.restored_step = None
        self.damaged: list[int] = []  # steps found damaged by the last restore

    @staticmethod
    def saved_steps(workdir: str) -> list[int]:
        """The finished steps under WORKDIR/checkpoints, read without orbax
        (and without creating anything)."""
        directory = checkpoint_dir(workdir)
        if not os.path.isdir(directory):
            return []
        return sorted(int(name) for name in os.listdir(directory) if name.isdigit())

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def latest_step(self):
        return self._manager.latest_step()

    def last_good_message(self) -> str:
        latest = self.latest_step()
        return ("no checkpoint was written" if latest is None
                else f"the last good checkpoint is step {latest}")

    def require_finite(self, step: int, state) -> None:
        """NonFiniteLossError unless every float in `state` is finite: the loss
        of a step is computed before its update, so only the state itself
        shows an update that diverged."""
        bad = non_finite_leaves(state)
        if bad:
            raise NonFiniteLossError(
                f"the state after step {step} holds non-finite values ({bad[0]}"
                f"{' and others' if len(bad) > 1 else ''}); training stopped without saving "
                f"it, {self.last_good_message()}. Lower the learning rate or check the data range")

    def save(self, step: int, state, position: dict, checked: bool = False) -> None:
        """Write step `step`; refused (NonFiniteLossError) if `state` holds NaN or
        inf (`checked`: the caller has just called require_finite)."""
        if not checked:
            self.require_finite(step, state)
        before = set(os.listdir(self.directory)) if os.path.isdir(self.directory) else set()
        try:
            self._manager.save(int(step), args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                position=ocp.args.JsonSave(jax.tree.map(int, position))))
            self._manager.wait_until_finished()
        except Exception as err:  # orbax wraps the OSError of a full disk
            os_error = _os_error_in(err)
            if os_error is None:
                raise
            removed = _remove_new_entries(self.directory, before)
            what = ("the disk is full" if os_error.errno == errno.ENOSPC
                    else f"{os_error.strerror or os_error}")
            raise CheckpointError(
                f"could not write checkpoint {step} in {self.directory}: {what}"
                f"{'; the partial write was removed' if removed else ''}; "
                f"{self.last_good_message()} and loadable") from None
        step_dir = os.path.join(self.directory, str(int(step)))
        if distributed.is_primary():  # orbax has synchronised every process's writes
            workdir_lib.write_atomically(os.path.join(step_dir, CHECKSUMS),
                                         json.dumps(file_sums(step_dir), indent=0, sort_keys=True))
        distributed.barrier(f"jaxgen_checkpoint_{int(step)}_complete")

    def restore(self, template, step: int | None = None, fallback: bool = True):
        """Restore into the structure, shapes and shardings of `template`.

        Returns (state, position). With `step` None the newest checkpoint is
        used, or, if it is damaged, the newest readable older one (a warning
        names both); `restored_step` and `damaged` say what happened. A
        checkpoint that does not match the template's shapes is not damage:
        it is a CheckpointError at once (the config or the code differ).
        """
        saved = self.all_steps()
        if not saved:
            raise CheckpointError(f"no checkpoint found in {self.directory}")
        if step is not None and step not in saved:
            raise CheckpointError(f"no checkpoint of step {step} in {self.directory}; "
                                  f"it holds steps {saved}")
        candidates = [step] if step is not None else saved[::-1]
        self.damaged = []
        for candidate in candidates:
            try:
                restored = self._restore_one(template, candidate)
            except DamagedCheckpoint as err:
                if step is not None or not fallback:
                    raise
                self.damaged.append(candidate)
                _warn(str(err))
                continue
            if self.damaged:
                _warn(f"using checkpoint {candidate} instead of the damaged newest "
                      f"{self.damaged[0]}; the damaged one{'s are' if len(self.damaged) > 1 else ' is'}"
                      " left on disk")
            self.restored_step = candidate
            return restored
        raise CheckpointError(f"every checkpoint in {self.directory} ({saved}) is damaged; "
                              "see the warnings above; train again in a new --workdir")

    def _restore_one(self, template, step: int):
        step_dir = os.path.join(self.directory, str(step))
        if os.path.islink(step_dir):
            raise CheckpointError(f"{step_dir} is a symbolic link; jaxgen does not follow "
                                  "links inside a workdir: remove it")
        problem = verify_sums(step_dir)
        if problem:
            raise DamagedCheckpoint(f"checkpoint {step} in {self.directory} is damaged: {problem}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        try:
            restored = self._manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract),
                position=ocp.args.JsonRestore()))
        except Exception as err:  # orbax raises many types; all mean "unusable"
            raise DamagedCheckpoint(
                f"checkpoint {step} in {self.directory} cannot be read ({type(err).__name__}: "
                f"{str(err).splitlines()[0][:200] if str(err) else ''}): it is damaged, or the "
                "run's config.json no longer describes its model") from None
        _check_shapes(abstract, restored.state, step, self.directory)
        bad = non_finite_leaves(restored.state)
        if bad:
            raise DamagedCheckpoint(f"checkpoint {step} in {self.directory} is damaged: "
                                    f"{bad[0]} holds non-finite values")
        if not isinstance(restored.position, dict):
            raise DamagedCheckpoint(f"checkpoint {step} in {self.directory} is damaged: "
                                    "no data-iterator position")
        return restored.state, restored.position

    def close(self) -> None:
        self._manager.close()


def move_aside(directory: str, steps, workdir: str) -> list[str]:
    """Move damaged step folders out of the way of new saves, into
    WORKDIR/damaged_checkpoints/ (kept, never deleted)."""
    target = os.path.join(os.path.abspath(workdir), "damaged_checkpoints")
    moved = []
    for step in steps:
        os.makedirs(target, exist_ok=True)
        destination = os.path.join(target, str(step))
        while os.path.lexists(destination):
            destination += "_"
        os.rename(os.path.join(directory, str(step)), destination)
        moved.append(destination)
    return moved


def remove_partial_writes(directory: str) -> list[str]:
    """Delete orbax's unfinished temporary step folders (a kill or a full disk
    during a save): they are never read, and they hold disk space."""
    if not os.path.isdir(directory):
        return []
    removed = []
    for name in os.listdir(directory):
        if _TMP_MARK in name:
            shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
            removed.append(name)
    return removed


def _remove_new_entries(directory: str, before: set) -> list[str]:
    if not os.path.isdir(directory):
        return []
    new = sorted(set(os.listdir(directory)) - before)
    for name in new:
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    return new


def _os_error_in(err: BaseException):
    """The OSError that caused `err`, if any (orbax re-raises inside its own types)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def _check_shapes(abstract, restored, step, directory) -> None:
    want = jax.tree.map(lambda a: (a.shape, str(a.dtype)), abstract)
    got = jax.tree.map(lambda a: (a.shape, str(a.dtype)), restored)
    if want != got:
        raise CheckpointError(
            f"checkpoint {step} in {directory} holds arrays of other shapes than the model "
            "that the run's config.json builds with this jaxgen; the checkpoint is intact: "
            "sample or resume it with the jaxgen that wrote it, or train in a new --workdir")
