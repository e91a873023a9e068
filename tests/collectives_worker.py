"""One process of the known-answer collective test (tests/test_multiprocess.py):
joins the run through jaxgen's `distributed.initialize` (which checks an
all-reduce itself), then checks sums and a gather computed directly with jax,
and prints them as JSON for the test to compare with the exact answers."""
import json
import sys

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec

from jaxgen.engine import distributed

coordinator, num_processes, process_id = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
distributed.initialize(coordinator, num_processes, process_id, heartbeat_timeout=20)
mesh = jax.make_mesh((jax.device_count(),), ("data",))
# [global devices] array holding, on each device, its process index.
local = np.full((jax.local_device_count(),), jax.process_index(), np.float32)
values = jax.make_array_from_process_local_data(NamedSharding(mesh, PartitionSpec("data")), local)
replicated = NamedSharding(mesh, PartitionSpec())
total = jax.jit(lambda x: x.sum(), out_shardings=replicated)(values)
squares = jax.jit(lambda x: (x * x).sum(), out_shardings=replicated)(values)
gathered = multihost_utils.process_allgather(np.array([jax.process_index()]))
print(json.dumps({"process": jax.process_index(), "processes": jax.process_count(),
                  "devices": jax.device_count(), "local_devices": jax.local_device_count(),
                  "sum": float(total), "sum_of_squares": float(squares),
                  "gathered": np.asarray(gathered).ravel().tolist()}))
