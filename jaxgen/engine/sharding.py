"""Data parallelism with jit + NamedSharding over a 1-D mesh axis `data`.

State is replicated; each batch is split along its batch axis across all
devices, and XLA inserts the gradient all-reduce (DESIGN.md, "Engine").
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

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


def put_batch(batch: dict, mesh, stacked: bool = False, local: bool = False) -> dict:
    """Host numpy arrays -> global arrays sharded over the mesh.

    `make_array_from_process_local_data` is also the multi-host path: each
    process passes its own slice of the global batch. With `local`, `batch`
    already is this process's slice (a streamed iterator reads only its share).
    """
    sharding = batch_sharding(mesh, stacked)
    return {name: jax.make_array_from_process_local_data(
                sharding, np.asarray(value) if local else _local_part(value, stacked))
            for name, value in batch.items()}


def _local_part(global_batch, stacked: bool) -> np.ndarray:
    """This process's contiguous slice of the global batch (all of it on one host).

    Every process runs the same iterator with the same key, so each can cut
    its own share without talking to the others.
    """
    x = np.asarray(global_batch)
    count, index = jax.process_count(), jax.process_index()
    if count == 1:
        return x
    axis = 1 if stacked else 0
    size = x.shape[axis] // count
    return np.take(x, np.arange(index * size, (index + 1) * size), axis=axis)
