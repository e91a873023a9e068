"""Orbax checkpoints of the whole TrainState plus the data-iterator position.

Orbax writes each step into a temporary folder and renames it when complete,
so a run killed at any moment (kill -9 included) leaves either a whole
checkpoint or none; unfinished temporaries are ignored on restart.
"""
from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp

from jaxgen.errors import CheckpointError


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), "checkpoints")


class Checkpointer:
    def __init__(self, workdir: str, max_to_keep: int = 3, create: bool = True):
        directory = checkpoint_dir(workdir)
        if not create and not os.path.isdir(directory):
            raise CheckpointError(f"no checkpoints in {workdir} (expected {directory}); "
                                  "train a run there first")
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=create,
            # Synchronous saves: when `save` returns the step is on disk, so the
            # "at most the steps since the last checkpoint" promise is exact.
            enable_async_checkpointing=False)
        self._manager = ocp.CheckpointManager(directory, options=options)
        self.directory = directory

    def latest_step(self):
        return self._manager.latest_step()

    def save(self, step: int, state, position: dict) -> None:
        self._manager.save(int(step), args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            position=ocp.args.JsonSave(jax.tree.map(int, position))))
        self._manager.wait_until_finished()

    def restore(self, template, step: int | None = None):
        """Restore into the structure, shapes and shardings of `template`.

        Returns (state, position). Any failure to read, or a shape or
        structure that differs from the template, is a CheckpointError.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint found in {self.directory}")
        saved = sorted(self._manager.all_steps())
        if step not in saved:
            raise CheckpointError(f"no checkpoint of step {step} in {self.directory}; "
                                  f"it holds steps {saved}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        try:
            restored = self._manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract),
                position=ocp.args.JsonRestore()))
        except Exception as err:  # orbax raises many types; all mean "unusable"
            raise CheckpointError(
                f"checkpoint {step} in {self.directory} is corrupt or does not match this "
                f"run's model ({type(err).__name__}: {str(err).splitlines()[0][:300]}); "
                "delete that step folder to fall back to an older one, or use a new --workdir"
            ) from err
        _check_shapes(abstract, restored.state, step, self.directory)
        return restored.state, restored.position

    def close(self) -> None:
        self._manager.close()


def _check_shapes(abstract, restored, step, directory) -> None:
    want = jax.tree.map(lambda a: (a.shape, str(a.dtype)), abstract)
    got = jax.tree.map(lambda a: (a.shape, str(a.dtype)), restored)
    if want != got:
        raise CheckpointError(f"checkpoint {step} in {directory} holds arrays of other shapes "
                              "than this run's model; use a new --workdir")
