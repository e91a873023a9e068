"""`jaxgen.load(workdir)`: a trained run as a Python object."""
from __future__ import annotations

import dataclasses
import functools
import os

import jax

from jaxgen import data, registry
from jaxgen.engine import config as config_lib
from jaxgen.engine import workdir as workdir_lib
from jaxgen.engine.checkpoint import Checkpointer
from jaxgen.engine.keys import run_keys
from jaxgen.errors import CheckpointError, JaxgenError


@dataclasses.dataclass
class Run:
    workdir: str
    config: object
    family: registry.Family
    state: object

    @functools.cached_property
    def _sample_fn(self):
        return jax.jit(functools.partial(self.family.sample, self.config),
                       static_argnames="num")

    def sample(self, key, num: int, cond=None):
        """Images in [0, 1], NHWC (points [num, 2] for 2-D families).

        cond: None, an int class, a [num] label array, or a batch dict (a
        translator's input images); refused for a run that does not read it.
        """
        if self.family.sample is None:
            raise JaxgenError(f"family {self.family.name} does not sample")
        if cond is not None and not self.family.is_conditional(self.config):
            raise JaxgenError(f"this {self.family.name} run is unconditional: it takes no "
                              "condition (--cond); train with a conditional config to use one")
        return self._sample_fn(self.state, key, num=num, cond=cond)

    @property
    def step(self) -> int:
        return int(self.state.step)


def read_config(workdir: str):
    if os.path.lexists(workdir) and not os.path.isdir(workdir):
        raise CheckpointError(f"--workdir {workdir} is a file, not a jaxgen run folder")
    workdir_lib.refuse_links(workdir)
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise CheckpointError(f"{workdir} holds no jaxgen run (no config.json); "
                              "train one with `jaxgen train ... --workdir DIR`")
    try:
        return config_lib.from_json(workdir_lib.read_text(path))
    except ValueError as err:
        raise CheckpointError(f"{path} is not a readable jaxgen config ({err})") from None


def state_template(family, config):
    """Shapes, dtypes and (single-device) placement of the run's TrainState,
    obtained without running the initialisation or loading the dataset."""
    batch = data.spec(config).batch_shapes(config.batch_size)
    abstract = jax.eval_shape(functools.partial(family.init, config),
                              run_keys(config.seed).init, batch)
    # This process's own first device: jax.devices()[0] belongs to process 0.
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device),
                        abstract)


def load(workdir: str, overrides: dict | None = None, step: int | None = None) -> Run:
    """Load the latest (or the given) checkpoint of the run in `workdir`.

    `overrides` (KEY -> string value) change sampling knobs and the like; keys
    are checked against the run's config exactly as on the command line.
    """
    config = read_config(workdir)
    family = registry.get(config.family)
    full = config_lib.complete(config, family)  # keys added or renamed since it was saved
    full = config_lib.apply_overrides(full, overrides or {})
    checkpointer = Checkpointer(workdir, create=False)
    try:
        # A damaged newest checkpoint: the newest readable one, with a warning
        # naming the step used; nothing on disk is changed.
        state, _ = checkpointer.restore(state_template(family, full), step)
    finally:
        checkpointer.close()
    return Run(workdir=workdir, config=full, family=family, state=state)
