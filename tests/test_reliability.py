"""Kill, corruption and bad-input trials (issue 16): one workdir one trainer,
damaged checkpoints survived, no non-finite state saved, nothing written
before validation, no writes through links, one line per user error."""
import dataclasses
import errno
import json
import os
import shutil
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import jaxgen
from jaxgen import data, registry
from jaxgen.engine import checkpoint as checkpoint_lib
from jaxgen.engine import config as config_lib
from jaxgen.engine import workdir as workdir_lib
from jaxgen.engine.images import read_metrics
from jaxgen.engine.loop import reconcile_config, train, train_run, write_config
from jaxgen.errors import CheckpointError, ConfigError, DatasetError, NonFiniteLossError

from conftest import run_cli
from tiny_configs import tiny_overrides

TINY_ARGS = [f"--config.{k}={v}" for k, v in tiny_overrides("vae").items()]


def tiny(**overrides):
    return config_lib.build_config("vae", overrides=tiny_overrides("vae", **overrides))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny VAE run of 2 steps with checkpoints 1 and 2; copy it before changing it."""
    workdir = str(tmp_path_factory.mktemp("trained") / "run")
    train(tiny(), workdir, progress=False)
    return workdir


def copy_of(workdir, tmp_path, name="copy"):
    target = str(tmp_path / name)
    shutil.copytree(workdir, target)
    return target


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("jaxgen: error")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def all_finite(tree):
    return all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(tree)
               if np.issubdtype(np.asarray(x).dtype, np.inexact))


# --- one workdir, one trainer ------------------------------------------------

HOLD_LOCK = """
import sys, time
from jaxgen.engine.workdir import TrainerLock
with TrainerLock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_second_trainer_is_refused_and_a_killed_one_leaves_no_stuck_lock(tmp_path):
    workdir = str(tmp_path / "run")
    os.makedirs(workdir)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, workdir], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(workdir_lib.WorkdirError, match=f"another jaxgen process .pid {holder.pid}"):
            train(tiny(), workdir, progress=False)
        assert not os.path.exists(os.path.join(workdir, "config.json"))
        assert not os.path.exists(os.path.join(workdir, "metrics.jsonl"))
    finally:
        holder.kill()  # kill -9: the kernel drops its flock with the process
        holder.wait()
    with workdir_lib.TrainerLock(workdir):
        pass


# --- checkpoints: never a non-finite one, damage detected, fallback ----------------

def poison_params_after(monkeypatch, bad_step):
    """The update of step `bad_step` (1-based) turns every parameter into NaN
    while the loss it reports (computed before the update) stays finite:
    the divergence only the state shows."""
    family = registry.get("vae")

    def step_fn(config, state, batch, key):
        new_state, metrics = family.train_step(config, state, batch, key)
        poison = jax.numpy.where(state.step + 1 >= bad_step, jax.numpy.nan, 1.0)
        params = jax.tree.map(lambda p: p * poison, new_state.params)
        return new_state.replace(params=params), metrics

    monkeypatch.setitem(registry._REGISTRY, "vae", dataclasses.replace(family, train_step=step_fn))


def test_a_diverged_state_is_never_saved_and_the_message_names_the_good_step(tmp_path,
                                                                             monkeypatch):
    poison_params_after(monkeypatch, bad_step=3)
    workdir = str(tmp_path / "run")
    with pytest.raises(NonFiniteLossError, match="after step 3.*last good checkpoint is step 2"):
        train(tiny(steps=4), workdir, progress=False)
    monkeypatch.undo()
    assert sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints"))) == [1, 2]
    run = jaxgen.load(workdir)
    assert run.step == 2 and all_finite(run.state)


def test_diverging_at_the_first_step_saves_nothing(tmp_path, monkeypatch):
    poison_params_after(monkeypatch, bad_step=1)
    workdir = str(tmp_path / "run")
    with pytest.raises(NonFiniteLossError, match="no checkpoint was written"):
        train(tiny(steps=3), workdir, progress=False)
    assert not os.listdir(os.path.join(workdir, "checkpoints"))
    assert not os.path.exists(os.path.join(workdir, "config.json"))


def test_a_nan_learning_rate_is_refused_before_anything_is_written(tmp_path):
    workdir = str(tmp_path / "run")
    with pytest.raises(ConfigError, match="optim.learning_rate must be > 0, got nan"):
        train(tiny(**{"optim.learning_rate": "nan"}), workdir, progress=False)
    assert os.listdir(workdir) == [".lock"]  # nothing but the trainer's lock


def flip_bytes(path, offset=None):
    with open(path, "r+b") as f:
        size = os.path.getsize(path)
        f.seek(size // 2 if offset is None else offset)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))


def largest_file(folder):
    files = [os.path.join(r, n) for r, _, names in os.walk(folder) for n in names
             if n != checkpoint_lib.CHECKSUMS]
    return max(files, key=os.path.getsize)


def test_a_bit_flip_is_detected_and_load_falls_back_to_the_newest_good_step(trained, tmp_path,
                                                                             capfd):
    workdir = copy_of(trained, tmp_path)
    newest = os.path.join(workdir, "checkpoints", "2")
    flip_bytes(largest_file(newest))
    run = jaxgen.load(workdir)
    err = capfd.readouterr().err
    assert run.step == 1 and all_finite(run.state)
    assert "checkpoint 2" in err and "checksum" in err and "using checkpoint 1" in err
    assert os.path.isdir(newest), "the damaged checkpoint is left as it was"
    with pytest.raises(checkpoint_lib.DamagedCheckpoint, match="checkpoint 2"):
        jaxgen.load(workdir, step=2)  # an explicit --step gets no silent substitute


def test_a_non_finite_checkpoint_without_sums_is_damaged(trained, tmp_path, capfd):
    """An older jaxgen's checkpoint has no checksum list: the finiteness check
    of the restored state still catches NaN written into it."""
    workdir = copy_of(trained, tmp_path)
    template = jaxgen.load(workdir).state
    manager = checkpoint_lib.Checkpointer(workdir)
    nan_state = template.replace(params=jax.tree.map(lambda p: p * np.nan, template.params))
    import orbax.checkpoint as ocp
    manager._manager.save(3, args=ocp.args.Composite(  # bypasses the finiteness check of save
        state=ocp.args.StandardSave(nan_state),
        position=ocp.args.JsonSave({"epoch": 0, "index": 3})))
    manager._manager.wait_until_finished()
    manager.close()
    assert jaxgen.load(workdir).step == 2
    assert "non-finite" in capfd.readouterr().err


def test_every_checkpoint_damaged_is_one_line(trained, tmp_path):
    workdir = copy_of(trained, tmp_path)
    for step in ("1", "2"):
        os.remove(largest_file(os.path.join(workdir, "checkpoints", step)))
    result = run_cli("sample", "--workdir", workdir, "--out", str(tmp_path / "s.png"),
                     check=False)
    assert_one_line_error(result, "every checkpoint")
    assert len(result.stderr.splitlines()) < 10, result.stderr  # no pages of orbax traceback
    assert not os.path.exists(tmp_path / "s.png")


def test_a_full_disk_removes_the_partial_write_and_keeps_the_last_checkpoint(trained, tmp_path,
                                                                             monkeypatch):
    workdir = copy_of(trained, tmp_path)
    checkpointer = checkpoint_lib.Checkpointer(workdir)
    state = jaxgen.load(workdir).state

    def full_disk_save(step, args):
        os.makedirs(os.path.join(checkpointer.directory, f"{step}.orbax-checkpoint-tmp-1"))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpointer._manager, "save", full_disk_save)
    with pytest.raises(CheckpointError, match="disk is full.*partial write was removed.*step 2"):
        checkpointer.save(3, state, {"epoch": 0, "index": 3})
    checkpointer.close()
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["1", "2"]
    assert jaxgen.load(workdir).step == 2


def test_a_trainer_removes_partial_writes_left_by_a_kill(trained, tmp_path):
    workdir = copy_of(trained, tmp_path)
    partial = os.path.join(workdir, "checkpoints", "3.orbax-checkpoint-tmp-99")
    os.makedirs(partial)
    checkpoint_lib.Checkpointer(workdir).close()
    assert not os.path.exists(partial)


def test_max_to_keep_below_one_is_refused_without_writing(tmp_path):
    for value in ("0", "-1"):
        result = run_cli("train", "vae", "--workdir", str(tmp_path / "run"), *TINY_ARGS,
                         f"--config.max_to_keep={value}", check=False)
        assert_one_line_error(result, "max_to_keep", ">= 1")
    assert not os.path.exists(tmp_path / "run")


# --- the workdir: written only after validation, mismatches explained ----------------

def test_a_rejected_config_writes_nothing_so_the_corrected_retry_runs(tmp_path):
    workdir = str(tmp_path / "run")
    with pytest.raises(ConfigError, match="latent_dim"):
        train(tiny(latent_dim=0), workdir, progress=False)  # refused by the family's init
    assert os.listdir(workdir) == [".lock"]
    assert train_run(tiny(steps=1), workdir, progress=False)[1] == "trained vae to step 1"


def test_a_mismatch_says_the_config_is_what_differs_and_keeps_the_checkpoints(trained, tmp_path):
    workdir = copy_of(trained, tmp_path)
    with pytest.raises(ConfigError) as info:
        train(tiny(latent_dim=3), workdir, progress=False)
    message = str(info.value)
    assert "latent_dim: saved 2, given 3" in message and "checkpoints are fine" in message
    assert "delete" not in message
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["1", "2"]


def test_a_steps_spanning_decay_refuses_a_new_steps(tmp_path):
    workdir = str(tmp_path / "run")
    os.makedirs(workdir)
    cosine = {"optim.schedule": "cosine", "optim.decay_steps": "0"}
    write_config(tiny(steps=4, **cosine), workdir)
    with pytest.raises(ConfigError, match="steps=4.*optim.schedule='cosine'.*--config.steps=4"):
        reconcile_config(tiny(steps=8, **cosine), workdir)
    reconcile_config(tiny(steps=4, **cosine), workdir)  # the same steps: fine
    fixed = {"optim.schedule": "cosine", "optim.decay_steps": "4"}
    write_config(tiny(steps=4, **fixed), workdir)
    reconcile_config(tiny(steps=8, **fixed), workdir)  # a decay of its own length: resumable


def test_a_saved_nan_equals_a_given_nan(tmp_path):
    workdir = str(tmp_path / "run")
    os.makedirs(workdir)
    config = tiny()
    with config.unlocked():
        config.optim.final_lr_fraction = float("nan")  # not validated by the optimizer: a
    write_config(config, workdir)                       # float key that may hold NaN
    reconcile_config(config, workdir)


def test_links_inside_a_workdir_are_refused_and_nothing_is_written_through_them(trained,
                                                                                  tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    for name in ("eval.json.tmp", "config.json.tmp", "metrics.jsonl", "samples"):
        workdir = copy_of(trained, tmp_path, name=f"with_{name}")
        target = os.path.join(workdir, name)
        if os.path.isdir(target):
            shutil.rmtree(target)
        elif os.path.exists(target):
            os.remove(target)
        os.symlink(outside, target)
        with pytest.raises(workdir_lib.WorkdirError, match="symbolic link"):
            train(tiny(steps=3), workdir, progress=False)
        result = run_cli("eval", "--workdir", workdir, "--metrics", "elbo", "--num", "8",
                         check=False)
        assert_one_line_error(result, "symbolic link")
    assert outside.read_text() == "precious"


def test_atomic_writes_replace_a_link_instead_of_following_it(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    link = tmp_path / "eval.json"
    os.symlink(outside, link)
    workdir_lib.write_atomically(str(link), "{}")
    assert outside.read_text() == "precious" and not os.path.islink(link)
    with pytest.raises(OSError):
        os.symlink(outside, tmp_path / "m.jsonl")
        workdir_lib.open_append(str(tmp_path / "m.jsonl"))


def test_a_step_folder_that_is_a_link_is_refused(trained, tmp_path):
    workdir = copy_of(trained, tmp_path)
    step_dir = os.path.join(workdir, "checkpoints", "2")
    shutil.move(step_dir, str(tmp_path / "elsewhere"))
    os.symlink(tmp_path / "elsewhere", step_dir)
    result = run_cli("sample", "--workdir", workdir, "--out", str(tmp_path / "s.png"),
                     check=False)
    assert_one_line_error(result, "symbolic link")


# --- bad input: one line each -----------------------------------------------------

def test_bad_paths_and_files_are_one_line(trained, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    garbage = copy_of(trained, tmp_path, "garbage")
    with open(os.path.join(garbage, "config.json"), "w") as f:
        f.write("{not json")
    cases = [
        (["train", "vae", "--workdir", str(a_file), *TINY_ARGS], "is a file"),
        (["sample", "--workdir", str(a_file), "--out", str(tmp_path / "s.png")], "is a file"),
        (["sample", "--workdir", trained, "--out", str(a_file / "s.png")], str(a_file)),
        (["sample", "--workdir", garbage, "--out", str(tmp_path / "s.png")], "not a readable"),
        (["train", "vae", "--workdir", garbage, *TINY_ARGS, "--config.steps=3"], "not a readable"),
        (["sample", "--workdir", trained, "--out", str(tmp_path / "s.png"), "--seed",
          str(2 ** 70)], "64 bits"),
        (["train", "vae", "--workdir", str(tmp_path / "r"), *TINY_ARGS,
          f"--config.seed={2 ** 70}"], "64 bits"),
    ]
    for args, fragment in cases:
        assert_one_line_error(run_cli(*args, check=False), fragment)
    assert not os.path.exists(tmp_path / "s.png") and not os.path.exists(tmp_path / "r")


def test_an_out_of_range_iterator_position_is_refused():
    arrays = {"image": np.zeros((10, 2), np.float32)}
    for position in ({"epoch": 0, "index": 99}, {"epoch": -1, "index": 0}, {"epoch": 0}):
        with pytest.raises(DatasetError, match="out of range"):
            data.BatchIterator(arrays, 5, jax.random.key(0), position)


def test_a_bad_line_in_metrics_is_dropped_on_resume(trained, tmp_path, capfd):
    workdir = copy_of(trained, tmp_path)
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
        f.write('{"step": 2, "split": "tr')  # a write cut short
    train(tiny(steps=3), workdir, progress=False)
    assert "unreadable line" in capfd.readouterr().err
    steps = [r["step"] for r in read_metrics(os.path.join(workdir, "metrics.jsonl"))
             if r["split"] == "train"]
    assert steps == [1, 2, 3]


# --- bookkeeping ---------------------------------------------------------------

def test_a_fresh_start_drops_the_rows_of_a_run_killed_before_its_first_checkpoint(tmp_path):
    workdir = str(tmp_path / "run")
    os.makedirs(workdir)
    with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
        for step in (1, 2, 3):
            f.write(json.dumps({"step": step, "split": "train", "loss": 9.0}) + "\n")
    train(tiny(), workdir, progress=False)
    rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert [r["step"] for r in rows if r["split"] == "train"] == [1, 2]
    assert all(r.get("loss") != 9.0 for r in rows)


def test_fused_steps_stop_at_steps_and_the_summary_says_the_real_step(tmp_path):
    state, summary = train_run(tiny(steps=5, steps_per_call=2, ckpt_every=100), str(tmp_path / "r"),
                               progress=False)
    assert int(state.step) == 5 and summary == "trained vae to step 5"


def test_a_finished_run_returns_at_once_and_lower_steps_say_what_happened(trained, tmp_path,
                                                                          monkeypatch):
    workdir = copy_of(trained, tmp_path)

    def no_data(*args, **kwargs):
        raise AssertionError("a finished run must not load its data")

    monkeypatch.setattr(data, "train_data", no_data)
    start = time.perf_counter()
    state, summary = train_run(tiny(), workdir, progress=False)
    assert int(state.step) == 2 and "already trained to step 2" in summary
    assert "nothing to do" in summary
    assert time.perf_counter() - start < 10
    _, summary = train_run(tiny(steps=1), workdir, progress=False)
    assert "beyond steps=1: nothing was trained" in summary


def test_os_errors_are_one_line(trained, tmp_path, monkeypatch, capsys):
    """A read-only workdir or a full disk (simulated: the tests run as root,
    whom permissions do not stop) ends in one line, exit status 2."""
    from jaxgen import cli

    def read_only(path, data):
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(workdir_lib, "write_atomically", read_only)
    workdir = copy_of(trained, tmp_path)
    assert cli.main(["eval", "--workdir", workdir, "--metrics", "elbo", "--num", "8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("jaxgen: error: Permission denied") and "eval.json" in err[-1]

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(workdir_lib, "write_atomically", full)
    assert cli.main(["train", "vae", "--workdir", str(tmp_path / "new"), *TINY_ARGS]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("jaxgen: error: the disk is full"), err
