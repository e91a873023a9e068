"""Several processes, one run: JAX's multi-controller runtime (DESIGN.md, "Scale").

Every process runs the same program on its own devices; they meet in the
collectives XLA inserts and in orbax's checkpoint barriers. Here: starting the
runtime (`jax.distributed.initialize`), which process writes the workdir's
files (process 0, the primary), barriers, and the debug records the
multi-process tests read. Nothing here is home-made transport: on CPUs the
collectives run over gloo, on accelerators over the platform's own.
"""
from __future__ import annotations

import hashlib
import json
import os

from jaxgen.errors import ConfigError

# Debug records for tests: with JAXGEN_DEBUG_DIR set, each process appends
# JSON lines to DIR/NAME.process-I.jsonl (the example rows it fed, the hash of
# its parameters); with JAXGEN_DEBUG_KILL_AT="STEP:PROCESS", that process
# kills itself with SIGKILL right after the checkpoint of STEP is written.
DEBUG_DIR = "JAXGEN_DEBUG_DIR"
DEBUG_KILL_AT = "JAXGEN_DEBUG_KILL_AT"
DEFAULT_HEARTBEAT_TIMEOUT = 100  # jax's own default, seconds


def parse_coordinator(address: str) -> str:
    """'HOST:PORT' checked (the port a number in 1..65535); returned unchanged."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--coordinator {address!r} must be HOST:PORT (for example "
                          "10.0.0.1:12345), the address of process 0")
    return address


def check_flags(distributed: bool, coordinator, num_processes, process_id,
                heartbeat_timeout) -> None:
    """One clear error for a combination of the distributed flags that cannot work."""
    named = {"--coordinator": coordinator, "--num-processes": num_processes,
             "--process-id": process_id}
    given = [flag for flag, value in named.items() if value is not None]
    if not distributed:
        extra = given + (["--heartbeat-timeout"] if heartbeat_timeout is not None else [])
        if extra:
            raise ConfigError(f"{', '.join(extra)} only apply to a multi-process run: add "
                              "--distributed")
        return
    if given and len(given) != len(named):
        missing = [flag for flag in named if named[flag] is None]
        raise ConfigError(f"--distributed with {', '.join(given)} also needs "
                          f"{', '.join(missing)} (all three, or none to let "
                          "jax.distributed.initialize read the cluster environment)")
    if coordinator is not None:
        parse_coordinator(coordinator)
        if num_processes < 1:
            raise ConfigError(f"--num-processes must be >= 1, got {num_processes}")
        if not 0 <= process_id < num_processes:
            raise ConfigError(f"--process-id must be in 0..{num_processes - 1} "
                              f"(--num-processes {num_processes}), got {process_id}")
    if heartbeat_timeout is not None and heartbeat_timeout < 1:
        raise ConfigError(f"--heartbeat-timeout must be >= 1 second, got {heartbeat_timeout}")


def initialize(coordinator=None, num_processes=None, process_id=None,
               heartbeat_timeout=None) -> None:
    """Join the run's processes. With no coordinator, jax detects the cluster
    (SLURM, Open MPI, a TPU pod, ...) itself. A process that stops sending
    heartbeats for `heartbeat_timeout` seconds (killed, hung, its host lost)
    makes every other process stop with jax's message "another task died"."""
    import jax
    # CPU devices talk over gloo (the only CPU collectives in jaxlib's wheel;
    # without it a multi-process CPU computation fails). Harmless on GPU/TPU.
    if "JAX_CPU_COLLECTIVES_IMPLEMENTATION" not in os.environ:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator, num_processes=num_processes,
            process_id=process_id,
            heartbeat_timeout_seconds=heartbeat_timeout or DEFAULT_HEARTBEAT_TIMEOUT)
    except (RuntimeError, ValueError) as err:  # no cluster found, coordinator unreachable
        first = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        where = f" at {coordinator}" if coordinator else ""
        raise ConfigError(f"could not start the multi-process run{where}: {first}") from None
    check_collectives()


def check_collectives() -> None:
    """A known-answer all-reduce over every device of every process, so a broken
    transport is reported here, not as an obscure failure of a training step.

    Each device holds (its process index + 1); the sum over the global mesh
    must be sum_p (p + 1) * (devices of p).
    """
    import jax
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec

    if jax.process_count() == 1:
        return
    mesh = jax.make_mesh((jax.device_count(),), ("all",))
    local = np.full((jax.local_device_count(),), jax.process_index() + 1, np.int32)
    expected = sum((d.process_index + 1) for d in jax.devices())
    what = (f"the known-answer all-reduce over {jax.process_count()} processes "
            f"({jax.device_count()} devices)")
    try:
        values = jax.make_array_from_process_local_data(
            NamedSharding(mesh, PartitionSpec("all")), local)
        total = int(jax.jit(lambda x: x.sum(),
                            out_shardings=NamedSharding(mesh, PartitionSpec()))(values))
    except Exception as err:  # the transport itself failed (jaxlib raises several types)
        first = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
        raise ConfigError(f"{what} failed ({type(err).__name__}: {first}); the processes "
                          "cannot exchange data (on CPUs: gloo, jax_cpu_collectives_"
                          "implementation)") from None
    if total != expected:
        raise ConfigError(f"{what} gave {total}, expected {expected}: the collectives "
                          "transport is broken; nothing was trained")


def describe(heartbeat_timeout=None) -> str:
    """One line for each process's log: who it is, and what happens if a peer dies."""
    import jax
    return (f"jaxgen: process {jax.process_index()} of {jax.process_count()} "
            f"({jax.local_device_count()} of {jax.device_count()} devices); if a process dies, "
            f"the others stop within about {heartbeat_timeout or DEFAULT_HEARTBEAT_TIMEOUT} s "
            "(--heartbeat-timeout) with jax's \"another task died\"; run the same commands "
            "again to resume")


def process_index() -> int:
    import jax
    return jax.process_index()


def is_primary() -> bool:
    """Process 0 alone writes the workdir's logs, samples and config."""
    return process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process has reached `name` (nothing to do in one process)."""
    import jax
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils
        multihost_utils.sync_global_devices(name)


def any_process(flag: bool) -> bool:
    """True on every process if `flag` is True on any (e.g. a stop requested by a
    signal that reached only some processes): all then stop at the same step."""
    import jax
    if jax.process_count() == 1:
        return bool(flag)
    import numpy as np
    from jax.experimental import multihost_utils
    return bool(np.any(multihost_utils.process_allgather(np.array(bool(flag)))))


def debug_record(name: str, payload: dict) -> None:
    """Append `payload` to DIR/NAME.process-I.jsonl if JAXGEN_DEBUG_DIR is set."""
    folder = os.environ.get(DEBUG_DIR)
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.process-{process_index()}.jsonl")
    with open(path, "a") as f:
        f.write(json.dumps(payload) + "\n")


def row_hashes(array) -> list[str]:
    """A short hash of each example (row) of a host array: which examples a process fed."""
    import numpy as np
    array = np.ascontiguousarray(array)
    return [hashlib.sha256(row.tobytes()).hexdigest()[:16] for row in array]


def local_state_hash(state) -> str:
    """SHA-256 of this process's copy of every leaf of `state` (its first
    addressable shard of each): equal on every process iff they hold the same
    parameters, bit for bit."""
    import jax
    import numpy as np
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(state):
        if isinstance(leaf, jax.Array):
            if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
                leaf = jax.random.key_data(leaf)
            value = np.asarray(leaf.addressable_data(0))
        else:
            value = np.asarray(leaf)
        digest.update(value.tobytes())
    return digest.hexdigest()


def maybe_die_after_checkpoint(step: int) -> None:
    """The JAXGEN_DEBUG_KILL_AT hook: SIGKILL this process after checkpoint `step`."""
    spec = os.environ.get(DEBUG_KILL_AT)
    if not spec:
        return
    at_step, _, process = spec.partition(":")
    if int(at_step) == step and int(process or 0) == process_index():
        import signal
        os.kill(os.getpid(), signal.SIGKILL)
