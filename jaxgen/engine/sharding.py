"""Data parallelism, optionally with sharded state, by jit + NamedSharding.

The mesh has two axes, `data` x `fsdp` (DESIGN.md, "Engine" and "Scale").
Every batch is split along its batch axis across all devices (both axes), so
each device computes the gradient of its own slice and XLA inserts the
reduction. With fsdp = 1 (the default) the state is replicated: pure data
parallelism. With fsdp = k > 1 every parameter and optimizer-state array is
cut into k pieces along one axis (`state_sharding`), a piece per device of
an `fsdp` group; XLA gathers the pieces where the computation needs them. No
collective is written by hand: only the arrays' shardings are declared.
"""
from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxgen.engine import distributed
from jaxgen.errors import ConfigError

# The mesh axes a batch is split over: all of them, so every device gets a slice.
BATCH_AXES = ("data", "fsdp")


def make_mesh(fsdp: int = 1) -> jax.sharding.Mesh:
    """A (devices / fsdp) x fsdp mesh over every device; ConfigError unless
    fsdp divides the device count."""
    devices = jax.device_count()
    if fsdp < 1 or devices % fsdp:
        raise ConfigError(f"config key 'fsdp' must divide the device count ({devices}): it is "
                          f"the size of the mesh axis the parameters are split over; got {fsdp}")
    # Auto axes: XLA propagates the shardings through the model and inserts
    # the collectives itself; the model code stays sharding-agnostic.
    return jax.make_mesh((devices // fsdp, fsdp), ("data", "fsdp"),
                         axis_types=(jax.sharding.AxisType.Auto,) * 2)


def replicated(mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def shard_axis(shape, parts: int):
    """The axis of an array of `shape` that is cut into `parts` pieces: the
    largest one that `parts` divides (the first of equal ones); None if no
    axis divides (the array is then replicated)."""
    divisible = [axis for axis, size in enumerate(shape) if size % parts == 0 and size >= parts]
    if parts == 1 or not divisible:
        return None
    return max(divisible, key=lambda axis: (shape[axis], -axis))


def array_sharding(mesh, shape) -> NamedSharding:
    """One state array's placement: split over `fsdp` along `shard_axis`, else replicated."""
    axis = shard_axis(shape, mesh.shape["fsdp"])
    if axis is None:
        return replicated(mesh)
    spec = [None] * len(shape)
    spec[axis] = "fsdp"
    return NamedSharding(mesh, P(*spec))


def state_sharding(mesh, abstract_state):
    """The sharding of every leaf of a TrainState (or any pytree of arrays or
    ShapeDtypeStructs): parameters, optimizer moments, EMA and extras alike,
    so an Adam moment sits on the same devices as its parameter."""
    return jax.tree.map(lambda leaf: array_sharding(mesh, leaf.shape), abstract_state)


def batch_sharding(mesh, stacked: bool = False) -> NamedSharding:
    """Split the batch axis over every device (both mesh axes); a stacked
    [k, B, ...] batch keeps its k axis whole."""
    return NamedSharding(mesh, P(None, BATCH_AXES) if stacked else P(BATCH_AXES))


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
