"""Multi-process training on one machine: 2 local processes x 2 CPU devices
(gloo collectives, a coordinator on 127.0.0.1) against one process with 4.

Order matters: the known-answer collective test runs first, so a broken
transport shows as such before any training test fails. The training runs
are started once (module fixture) through the real command line:
  single-process reference S; 2 processes uninterrupted U; 2 processes K
  whose process 1 is SIGKILLed right after checkpoint 2, then the restart R
  of K's workdir, which resumes to the end. Beside them, the tiny VAE on a
  test-made image folder: in memory in one process, and streamed through
  grain in 2 processes, each reading only its own rows of every batch.
The family is the tiny VAE; the same checks for the tiny GAN, and for 4
processes x 1 device, are in experiments/scale/multiprocess.py (each
launch costs tens of seconds on a loaded 2-core machine, so the suite runs
the one family).
Equality of losses with the single-process run: within rtol 1e-5 (the
all-reduce over gloo sums the per-device gradients in another order than
one process does, so the last float32 bits may differ; measured: ~1e-7
relative). Between multi-process runs (U and its resumed twin R): exact.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from conftest import run_cli, without_wall_clock, write_rgb32_folder
from jaxgen.engine import distributed, local_cluster
from jaxgen.errors import ConfigError
from tiny_configs import tiny_overrides

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS, KILL_AT = 4, 2
HEARTBEAT = 20  # seconds (short, yet not so short that a loaded machine trips it)
STOP_SLACK = 30  # polling, the abort, a loaded 2-core machine


def _config_args(values: dict) -> list[str]:
    return [f"--config.{k}={v}" for k, v in values.items()]


VAE = _config_args(tiny_overrides("vae", steps=STEPS, log_every=1, ckpt_every=KILL_AT,
                                  sample_every=100, eval_every=100, eval_batches=1))


# ---------------------------------------------------------------- flags

@pytest.mark.parametrize("flags, fragment", [
    (dict(distributed=False, coordinator="h:1"), "add --distributed"),
    (dict(distributed=True, coordinator="h:1"), "also needs --num-processes, --process-id"),
    (dict(distributed=True, coordinator="nohost", num_processes=2, process_id=0), "HOST:PORT"),
    (dict(distributed=True, coordinator="h:99999", num_processes=2, process_id=0), "HOST:PORT"),
    (dict(distributed=True, coordinator="h:1", num_processes=2, process_id=2), "0..1"),
    (dict(distributed=True, coordinator="h:1", num_processes=0, process_id=0), ">= 1"),
    (dict(distributed=True, heartbeat_timeout=0), ">= 1 second"),
])
def test_bad_flag_combinations_are_refused(flags, fragment):
    full = dict(distributed=False, coordinator=None, num_processes=None, process_id=None,
                heartbeat_timeout=None)
    full.update(flags)
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        distributed.check_flags(**full)


def test_good_flag_combinations_pass():
    distributed.check_flags(False, None, None, None, None)
    distributed.check_flags(True, None, None, None, None)  # cluster detection
    distributed.check_flags(True, "10.0.0.1:1234", 4, 3, 30)


def test_bad_flags_on_the_command_line_are_one_line(tmp_path):
    result = run_cli("train", "vae", "--workdir", str(tmp_path / "run"), "--distributed",
                     "--coordinator", "127.0.0.1:5000", "--num-processes", "2", check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "jaxgen: error: --distributed with --coordinator, --num-processes also needs "
        "--process-id (all three, or none to let jax.distributed.initialize read the "
        "cluster environment)"]
    assert not os.path.exists(tmp_path / "run")


# ---------------------------------------------------------------- one process's parts

def test_each_process_index_takes_its_own_workdir_lock(tmp_path):
    """Processes 0 and 1 of one run lock side by side; a second run's process 1
    is refused (in another process: flock is per open file, not per pid)."""
    from jaxgen.engine.workdir import TrainerLock
    with TrainerLock(str(tmp_path), 0), TrainerLock(str(tmp_path), 1):
        assert sorted(os.listdir(tmp_path)) == [".lock", ".lock.process-1"]
        code = ("import sys; from jaxgen.engine.workdir import TrainerLock, WorkdirError\n"
                f"try:\n    TrainerLock({str(tmp_path)!r}, 1).__enter__()\n"
                "except WorkdirError as err:\n    print(err); sys.exit(3)")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert result.returncode == 3, result.stderr
        assert "(its process 1: .lock.process-1)" in result.stdout


def test_a_disabled_logger_writes_nothing(tmp_path):
    from jaxgen.engine.logging import MetricsLogger
    logger = MetricsLogger(str(tmp_path), enabled=False)
    logger.drop_after(0)
    logger.write(1, "train", {"loss": 1.0})
    logger.close()
    assert os.listdir(tmp_path) == []


def test_cpu_env_gives_the_device_count_to_jax_alone():
    env = local_cluster.cpu_env(3, {"A": "1"})
    assert env["JAX_NUM_CPU_DEVICES"] == "3" and env["A"] == "1"
    assert "xla_force_host_platform_device_count" not in env["XLA_FLAGS"]


# ---------------------------------------------------------------- transport first

def test_known_answer_collectives_across_two_processes():
    port = local_cluster.free_port()
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "collectives_worker.py"),
                               f"127.0.0.1:{port}", "2", str(i)],
                              env=local_cluster.cpu_env(2), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, f"the collectives transport (gloo) failed:\n{err[-3000:]}"
    # The JSON line (gloo prints its connection lines on stdout too).
    results = sorted((json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
                      for out, _ in outputs),
                     key=lambda r: r["process"])
    for process, result in enumerate(results):
        # Devices hold their process index: 0, 0, 1, 1.
        assert result == {"process": process, "processes": 2, "devices": 4, "local_devices": 2,
                          "sum": 2.0, "sum_of_squares": 2.0, "gathered": [0, 1]}


# ---------------------------------------------------------------- training runs

def _read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Runs:
    """The runs of the module, started in two rounds of concurrent launches."""

    def __init__(self, root):
        self.root = root
        self.results = {}

    def workdir(self, name):
        return os.path.join(self.root, name)

    def debug(self, name, record, process=0):
        path = os.path.join(self.root, f"{name}_debug", f"{record}.process-{process}.jsonl")
        return _read_jsonl(path) if os.path.exists(path) else []

    def metrics(self, name):
        return without_wall_clock(_read_jsonl(os.path.join(self.workdir(name), "metrics.jsonl")))

    def launch(self, name, family_args, processes, workdir_of=None, env=None, **kwargs):
        workdir = self.workdir(workdir_of or name)
        extra = {distributed.DEBUG_DIR: os.path.join(self.root, f"{name}_debug")}
        extra.update(env or {})
        args = [family_args[0], "--workdir", workdir, "--no-progress", *family_args[1:]]
        self.results[name] = local_cluster.run_train(
            args, processes, 4 // max(processes, 1), env=extra, timeout=400, **kwargs)

    def round(self, *launches):
        threads = [threading.Thread(target=self.launch, args=a, kwargs=k) for a, k in launches]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def _streamed_folder_args(root: str) -> tuple[list[str], dict]:
    """The tiny VAE on a test-made folder of 8x8 RGB images (batch 8: 4 rows
    for each of 2 processes), and the environment that gives the array_record
    shards their own cache."""
    folder = write_rgb32_folder(os.path.join(root, "folder"), per_class=11)
    values = dict(dataset="image_folder", data_path=folder, image_size=8, channels=3,
                  batch_size=8)
    args = ["vae", *VAE, *_config_args(values)]
    return args, {"JAXGEN_DATA_DIR": os.path.join(root, "data_cache")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    runs = Runs(str(tmp_path_factory.mktemp("multiprocess")))
    vae = ["vae", *VAE]
    kill = {distributed.DEBUG_KILL_AT: f"{KILL_AT}:1"}
    folder, cache = _streamed_folder_args(runs.root)
    runs.round((("vae_S", vae, 0), {}),
               (("vae_K", vae, 2), dict(env=kill, heartbeat_timeout=HEARTBEAT)),
               (("stream_S", folder, 0), dict(env=cache)))  # in memory, one process
    checkpoints = os.path.join(runs.workdir("vae_K"), "checkpoints")
    runs.left_by_kill = sorted(os.listdir(checkpoints)) if os.path.isdir(checkpoints) else []
    runs.round((("vae_U", vae, 2), {}), (("vae_R", vae, 2), dict(workdir_of="vae_K")),
               (("stream_U", folder + ["--config.streaming=True"], 2), dict(env=cache)))
    return runs


def _assert_ran(runs, name):
    result = runs.results[name]
    assert result.returncodes == [0] * len(result.returncodes), \
        f"{name} failed: {result.returncodes}\n" + "\n-----\n".join(
            output[-2500:] for output in result.outputs)


def _assert_close_curves(multi, single):
    assert [(r["step"], r["split"]) for r in multi] == [(r["step"], r["split"]) for r in single]
    for m, s in zip(multi, single):
        assert m.keys() == s.keys()
        for key in m:
            if key not in ("step", "split"):
                np.testing.assert_allclose(m[key], s[key], rtol=1e-5, atol=1e-6,
                                           err_msg=f"{key} at step {m['step']} ({m['split']})")


def test_two_processes_train_the_single_process_curve(runs):
    _assert_ran(runs, f"vae_S")
    _assert_ran(runs, f"vae_U")
    multi, single = runs.metrics(f"vae_U"), runs.metrics(f"vae_S")
    assert [r["step"] for r in multi if r["split"] == "train"] == list(range(1, STEPS + 1))
    _assert_close_curves(multi, single)


def test_every_process_holds_the_same_parameters(runs):
    hashes = [runs.debug(f"vae_U", "state", p) for p in (0, 1)]
    assert hashes[0] and hashes[0] == hashes[1]
    assert hashes[0][-1]["step"] == STEPS


def test_each_process_feeds_its_own_half_of_the_global_batch(runs):
    """Per batch: process 0's rows then process 1's are the single-process
    run's global batch (nothing repeated, nothing skipped, none swapped); over
    the run no training example comes twice (one epoch)."""
    single = [r for r in runs.debug(f"vae_S", "batches") if r["field"] == "image"]
    parts = [[r for r in runs.debug(f"vae_U", "batches", p) if r["field"] == "image"]
             for p in (0, 1)]
    assert len(single) == len(parts[0]) == len(parts[1]) == STEPS
    for whole, first, second in zip(single, *parts):
        assert len(first["rows"]) == len(second["rows"]) == len(whole["rows"]) // 2
        assert first["rows"] + second["rows"] == whole["rows"]
    fed = [row for part in parts for record in part for row in record["rows"]]
    assert len(set(fed)) == len(fed) == STEPS * len(single[0]["rows"])


def test_two_streaming_processes_train_on_the_in_memory_global_batches(runs):
    """Streamed through grain, each process reads only its share of every global
    batch (its own array_record rows), and the two shares are the in-memory
    single-process run's batches: the same curve, row for row the same examples."""
    _assert_ran(runs, "stream_S")
    _assert_ran(runs, "stream_U")
    _assert_close_curves(runs.metrics("stream_U"), runs.metrics("stream_S"))
    single = [r for r in runs.debug("stream_S", "batches") if r["field"] == "image"]
    parts = [[r for r in runs.debug("stream_U", "batches", p) if r["field"] == "image"]
             for p in (0, 1)]
    assert len(single) == len(parts[0]) == len(parts[1]) == STEPS
    for whole, first, second in zip(single, *parts):
        assert len(first["rows"]) == len(second["rows"]) == 4
        assert first["rows"] + second["rows"] == whole["rows"]


def test_process_zero_alone_writes_the_workdir(runs):
    workdir = runs.workdir("vae_U")
    names = set(os.listdir(workdir))
    assert {"config.json", "metrics.jsonl", "checkpoints", ".lock", ".lock.process-1"} <= names
    rows = _read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    assert len(rows) == len({(r["step"], r["split"]) for r in rows})  # one writer, no duplicates
    assert sorted(os.listdir(os.path.join(workdir, "samples"))) == [
        "final.png", f"step_{STEPS:07d}.png"]  # the last step's grid, and its copy


def test_killing_one_process_stops_the_other_within_the_heartbeat_timeout(runs):
    result = runs.results["vae_K"]
    assert runs.left_by_kill == [str(KILL_AT)], "\n-----\n".join(o[-2500:] for o in result.outputs)
    assert result.returncodes[1] == -9  # the debug hook's SIGKILL, after checkpoint KILL_AT
    assert result.returncodes[0] != 0
    assert "another task died" in result.outputs[0], result.outputs[0][-3000:]
    assert result.ended[0] - result.ended[1] < HEARTBEAT + STOP_SLACK


def test_restart_after_the_kill_resumes_bit_for_bit(runs):
    """The restarted pair restores the checkpoint both processes wrote and ends
    exactly where the uninterrupted pair ends: same losses, same parameters."""
    _assert_ran(runs, "vae_R")
    _assert_ran(runs, "vae_U")
    resumed_line = f"resumed {runs.workdir('vae_K')} from step {KILL_AT}"
    assert resumed_line in runs.results["vae_R"].outputs[0]
    assert runs.metrics("vae_K") == runs.metrics("vae_U")  # K's file: rows of K, then of R
    resumed = [runs.debug("vae_R", "state", p) for p in (0, 1)]
    assert resumed[0] == resumed[1] == runs.debug("vae_U", "state", 0)
