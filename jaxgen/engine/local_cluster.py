"""N processes of one `jaxgen train` on this machine, as N hosts would run it.

For tests, benchmarks and trying a multi-process run without a cluster: each
process gets its own CPU devices (JAX_NUM_CPU_DEVICES), the coordinator is
process 0 on 127.0.0.1 at a free port, collectives go over gloo. Only the
standard library: nothing here imports jax.
"""
from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time


def free_port() -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_env(devices: int, extra: dict | None = None) -> dict:
    """The environment of one CPU process with `devices` devices."""
    env = dict(os.environ)
    env.update({"JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": str(devices),
                "JAX_CPU_COLLECTIVES_IMPLEMENTATION": "gloo"})
    # A device count forced through XLA_FLAGS would override JAX_NUM_CPU_DEVICES.
    flags = [f for f in env.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_force_host_platform_device_count")]
    env["XLA_FLAGS"] = " ".join(flags)
    # The children import the same jaxgen as this process, wherever it lies.
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


@dataclasses.dataclass
class Result:
    returncodes: list
    outputs: list  # stdout + stderr of each process
    seconds: float  # wall time until the last process ended
    ended: list  # seconds from the start to each process's end
    started_at: float  # time.time() at the start, to place other events


def distributed_args(port: int, num_processes: int, process_id: int,
                     heartbeat_timeout: int | None = None) -> list[str]:
    args = ["--distributed", "--coordinator", f"127.0.0.1:{port}",
            "--num-processes", str(num_processes), "--process-id", str(process_id)]
    if heartbeat_timeout is not None:
        args += ["--heartbeat-timeout", str(heartbeat_timeout)]
    return args


def run_train(train_args: list[str], num_processes: int, devices_per_process: int,
              env: dict | None = None, heartbeat_timeout: int | None = None,
              timeout: float = 600, nice: int = 0) -> Result:
    """`jaxgen train TRAIN_ARGS` in `num_processes` local processes (or one plain
    process when num_processes is 0: the single-process reference); waits for
    all of them (killing what is left after `timeout` seconds)."""
    port = free_port()
    command = [sys.executable, "-m", "jaxgen.cli", "train", *train_args]
    start = time.perf_counter()
    procs = []
    for index in range(max(num_processes, 1)):
        extra = (distributed_args(port, num_processes, index, heartbeat_timeout)
                 if num_processes else [])
        procs.append(subprocess.Popen(
            command + extra, env=cpu_env(devices_per_process, env), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.nice(nice)) if nice else None))
    # Each process's output goes to a pipe read by a thread, so a process that
    # writes a lot never blocks, and each end time is seen as it happens.
    outputs = [[] for _ in procs]
    readers = [threading.Thread(target=lambda p=p, o=o: o.extend(p.stdout), daemon=True)
               for p, o in zip(procs, outputs)]
    for reader in readers:
        reader.start()
    ended = [None] * len(procs)
    while None in ended:
        now = time.perf_counter()
        for i, proc in enumerate(procs):
            if ended[i] is None and proc.poll() is not None:
                ended[i] = now - start
        if now - start > timeout:
            for i, proc in enumerate(procs):
                if ended[i] is None:
                    proc.kill()
                    proc.wait()
                    ended[i] = timeout
                    outputs[i].append(f"\n[local_cluster: killed after {timeout} s]")
        time.sleep(0.05)
    for reader in readers:
        reader.join()
    return Result([p.returncode for p in procs], ["".join(o) for o in outputs],
                  max(ended), ended, time.time() - (time.perf_counter() - start))
