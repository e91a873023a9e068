"""Data parallelism with jit + NamedSharding over a 1-D mesh axis `data`.

State is replicated; each batch is split along its batch axis across all
devices, and XLA inserts the gradient all-reduce (DESIGN.md, "Engine").
"""
from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxgen.engine import distributed
from jaxgen.errors import ConfigError


def make_mesh() -> jax.sharding.Mesh:
    # Auto axis: XLA propagates the batch sharding through reshapes and inserts
    # the all-reduce itself; the model code stays sharding-agnostic.
    return jax.make_mesh((jax.device_count(),), ("data",),
                         axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh, stacked: bool = False) -> NamedSharding:
    """Split the batch axis; a stacked [k, B, ...] batch keeps its k axis whole."""
    return NamedSharding(mesh, P(None, "data") if stacked else P("data"))


def check_batch_size(batch_size: int, mesh) -> None:
    devices = mesh.devices.size
    if batch_size % devices:
        raise ConfigError(f"batch_size={batch_size} is not divisible by the {devices} devices "
                          "it is split across")


def put_batch(batch: dict, mesh, stacked: bool = False, process_local: bool = False,
              debug_name: str = "batches") -> dict:
    """Host numpy arrays -> global arrays sharded over the mesh.

    `batch` is the global batch, the same on every process (the in-memory
    iterator: every process runs it with the same key), each process keeping
    the rows its own devices hold; or, with `process_local`, this process's
    rows only (a streamed iterator reading its own share). Either way
    `make_array_from_process_local_data` assembles the global array. With
    JAXGEN_DEBUG_DIR set, the rows this process fed are recorded under
    `debug_name` (the multi-process tests count them).
    """
    sharding = batch_sharding(mesh, stacked)
    axis = 1 if stacked else 0
    arrays = {}
    for name, value in batch.items():
        value = np.asarray(value)
        if process_local:
            global_shape = list(value.shape)
            global_shape[axis] *= jax.process_count()
            local = value
        else:
            global_shape, local = value.shape, _local_part(value, sharding, axis)
        if os.environ.get(distributed.DEBUG_DIR):
            rows = local if not stacked else local.reshape(-1, *local.shape[2:])
            distributed.debug_record(debug_name, {"field": name,
                                                 "rows": distributed.row_hashes(rows)})
        arrays[name] = jax.make_array_from_process_local_data(sharding, local, tuple(global_shape))
    return arrays


def _local_part(global_batch: np.ndarray, sharding, axis: int) -> np.ndarray:
    """The rows of `global_batch` (along `axis`) that this process's devices hold.

    Read from the sharding, not assumed from the process index: the mesh's
    device order decides which process holds which rows. They are one
    contiguous block, as make_array_from_process_local_data expects.
    """
    if jax.process_count() == 1:
        return global_batch
    size = global_batch.shape[axis]
    starts, stops = set(), set()
    for index in sharding.addressable_devices_indices_map(global_batch.shape).values():
        rows = index[axis]
        starts.add(rows.start or 0)
        stops.add(size if rows.stop is None else rows.stop)
    first, last = min(starts), max(stops)
    return np.take(global_batch, np.arange(first, last), axis=axis)
