"""The training engine: resume bit for bit, crash safety, devices, bad input."""
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import jaxgen
from jaxgen import registry
from jaxgen.engine.images import read_metrics
from jaxgen.engine.loop import train
from jaxgen.errors import CheckpointError, ConfigError, NonFiniteLossError

from conftest import run_cli, tiny_config, without_wall_clock

HERE = os.path.dirname(__file__)


def train_rows(workdir):
    """The logged train metrics without wall-clock values."""
    return without_wall_clock(read_metrics(os.path.join(workdir, "metrics.jsonl")))


def assert_same_state(a, b):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    # log_every=1, so the interrupted run's end-of-run log line at step 3 is one
    # the uninterrupted run also writes.
    train(tiny_config(steps=6, log_every=1), straight, progress=False)
    train(tiny_config(steps=3, log_every=1), split, progress=False)
    train(tiny_config(steps=6, log_every=1), split, progress=False)  # resumes from step 3
    assert_same_state(jaxgen.load(straight).state, jaxgen.load(split).state)
    assert train_rows(straight) == train_rows(split)


def test_fused_steps_equal_single_steps(tmp_path):
    """steps_per_call=3 runs 3 steps in one lax.scan: same batches, same keys."""
    single, fused = str(tmp_path / "single"), str(tmp_path / "fused")
    train(tiny_config(steps=6), single, progress=False)
    train(tiny_config(steps=6, steps_per_call=3), fused, progress=False)
    a, b = jaxgen.load(single).state, jaxgen.load(fused).state
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6), a, b)


@pytest.mark.parametrize("sig,ckpt_every", [(signal.SIGKILL, 2), (signal.SIGINT, 1000),
                                            (signal.SIGTERM, 1000)])
def test_interrupted_run_resumes_exactly(tmp_path, sig, ckpt_every):
    """kill -9 loses only the steps since the last checkpoint; Ctrl-C and
    SIGTERM (a cluster's preemption) save one themselves (ckpt_every is too
    large to have written any) and exit non-zero. Either way the resumed run
    lands on the uninterrupted result."""
    killed, straight = str(tmp_path / "killed"), str(tmp_path / "straight")
    overrides = [f"--config.ckpt_every={ckpt_every}", "--config.log_every=2",
                 "--config.sample_every=1000", "--config.eval_every=1000"]
    tiny = [f"--config.{k}={v}" for k, v in tiny_config().items()
            if k in ("enc_channels", "dec_channels", "batch_size")]
    args = [sys.executable, "-m", "jaxgen.cli", "train", "vae", "--workdir", killed,
            "--no-progress", *tiny, *overrides, "--config.steps=400"]
    stderr = open(tmp_path / "stderr.txt", "w")
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=stderr)
    metrics = os.path.join(killed, "metrics.jsonl")
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until training is under way
        if os.path.exists(metrics) and len(read_metrics(metrics)) >= 3:
            break
        time.sleep(0.05)
    process.send_signal(sig)
    process.wait(timeout=60)
    stderr.close()
    assert process.returncode == {signal.SIGKILL: -signal.SIGKILL, signal.SIGINT: 130,
                                  signal.SIGTERM: 143}[sig]
    if sig == signal.SIGTERM:
        said = (tmp_path / "stderr.txt").read_text()
        assert "stopped by SIGTERM: saved a checkpoint at step" in said, said
        assert "Traceback" not in said
    checkpoints = os.path.join(killed, "checkpoints")
    saved = [int(s) for s in os.listdir(checkpoints) if s.isdigit()]
    assert saved, "a checkpoint survives the interruption"
    if sig == signal.SIGINT:
        assert os.path.exists(os.path.join(killed, "metrics.png")), "curves written on Ctrl-C"
    target = max(saved) + 4
    for workdir in (killed, straight):
        run_cli("train", "vae", "--workdir", workdir, "--no-progress", *tiny, *overrides,
                f"--config.steps={target}")
    assert_same_state(jaxgen.load(killed).state, jaxgen.load(straight).state)
    if max(saved) % 2 == 0:  # checkpoint on a log step: the logs match line for line
        assert train_rows(killed) == train_rows(straight)
    else:  # the first log window after resuming is shorter; the lines before match
        before = lambda rows: [r for r in rows if r["step"] <= max(saved)]  # noqa: E731
        assert before(train_rows(killed)) == before(train_rows(straight))


@pytest.mark.parametrize("devices", [8])
def test_one_device_and_eight_devices_give_the_same_losses(tmp_path, devices):
    def losses(count, name):
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={count}",
                   PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
        out = subprocess.run([sys.executable, os.path.join(HERE, "engine_worker.py"),
                              str(tmp_path / name), "6"], env=env, capture_output=True,
                             text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    one, many = losses(1, "one"), losses(devices, "many")
    assert (one["devices"], many["devices"]) == (1, devices)
    assert len(one["losses"]) == 6
    # The batch is split 8 ways and the gradient all-reduced: same maths,
    # summed in another order, so equal up to float32 rounding.
    np.testing.assert_allclose(one["losses"], many["losses"], rtol=1e-4)


def test_non_finite_loss_stops_with_the_step_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    family = registry.get("vae")

    def poisoned_step(config, state, batch, key):
        state, metrics = family.train_step(config, state, batch, key)
        bad = jax.numpy.where(state.step >= 4, jax.numpy.nan, 0.0)  # the 5th update
        return state, {**metrics, "loss": metrics["loss"] + bad}

    import dataclasses
    monkeypatch.setitem(registry._REGISTRY, "vae",
                        dataclasses.replace(family, train_step=poisoned_step))
    workdir = str(tmp_path / "nan")
    with pytest.raises(NonFiniteLossError, match="step 5"):
        train(tiny_config(steps=6), workdir, progress=False)
    monkeypatch.undo()
    assert jaxgen.load(workdir).step == 3  # the last good checkpoint


def test_resuming_with_a_different_model_is_refused(tmp_path):
    workdir = str(tmp_path / "run")
    train(tiny_config(steps=3), workdir, progress=False)
    with pytest.raises(ConfigError, match="latent_dim"):
        train(tiny_config(steps=6, latent_dim=3), workdir, progress=False)


def corrupt_latest_checkpoint(workdir):
    step_dir = os.path.join(workdir, "checkpoints", "6", "state")
    for root, _, files in os.walk(step_dir):
        for name in files:
            with open(os.path.join(root, name), "wb") as f:
                f.write(b"garbage")


def test_cli_end_to_end_and_errors(tmp_path):
    workdir = str(tmp_path / "cli")
    tiny = [f"--config.{k}={v}" for k, v in tiny_config().items()
            if k in ("enc_channels", "dec_channels", "batch_size", "steps", "log_every",
                     "eval_every", "sample_every", "ckpt_every", "eval_batches", "num_grid",
                     "iwae_samples")]
    assert "vae" in run_cli("list").stdout
    run_cli("train", "vae", "--workdir", workdir, "--no-progress", *tiny)
    for name in ("config.json", "metrics.jsonl", "metrics.png", "samples/final.png"):
        assert os.path.exists(os.path.join(workdir, name)), name
    assert os.listdir(os.path.join(workdir, "tensorboard"))

    run_cli("sample", "--workdir", workdir, "--num", "5", "--out", str(tmp_path / "s.npy"))
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (5, 28, 28, 1) and 0 <= samples.min() and samples.max() <= 1
    run_cli("sample", "--workdir", workdir, "--num", "4", "--out", str(tmp_path / "s.png"))
    assert os.path.getsize(tmp_path / "s.png") > 100

    # The Bernoulli VAE has no likelihood of 8-bit images (no `nll`); `elbo` is its own.
    out = run_cli("eval", "--workdir", workdir, "--metrics", "elbo", "--num", "40").stdout
    assert "elbo_nll_nats" in out
    results = json.load(open(os.path.join(workdir, "eval.json")))
    assert results["num_images"] == 40 and results["step"] == 6
    # An older checkpoint (ckpt_every=3): its own file, eval.json untouched.
    run_cli("eval", "--workdir", workdir, "--metrics", "elbo", "--num", "40", "--step", "3")
    assert json.load(open(os.path.join(workdir, "eval_step_3.json")))["step"] == 3
    assert json.load(open(os.path.join(workdir, "eval.json"))) == results

    # Bad input: one line on stderr, exit status 2.
    for args, message in [
        (["train", "vea", "--workdir", str(tmp_path / "x")], "unknown family"),
        (["train", "vae", "--workdir", str(tmp_path / "x"), "--config.latnt=2"], "unknown config key"),
        (["eval", "--workdir", workdir, "--metrics", "fid9"], "unknown metric"),
        (["eval", "--workdir", workdir, "--num", "0"], "--num must be >= 1"),
        (["sample", "--workdir", str(tmp_path / "nothing"), "--out", "a.png"], "no jaxgen run"),
        (["sample", "--workdir", workdir, "--out", str(tmp_path / "a.gif")], ".png or .npy"),
        (["sample", "--workdir", workdir, "--out", str(tmp_path / "a.png"), "--step", "4"],
         "no checkpoint of step 4"),
    ]:
        result = run_cli(*args, check=False)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr

    # A damaged newest checkpoint: sample falls back to the newest readable one
    # (step 3) and says so; train resumes from it and moves the damaged one aside.
    corrupt_latest_checkpoint(workdir)
    result = run_cli("sample", "--workdir", workdir, "--out", str(tmp_path / "c.png"))
    assert "checkpoint 6" in result.stderr and "damaged" in result.stderr
    assert "using checkpoint 3" in result.stderr and "(step 3)" in result.stdout
    result = run_cli("train", "vae", "--workdir", workdir, "--no-progress", *tiny[:-1],
                     "--config.steps=6")
    assert "using checkpoint 3" in result.stderr and "trained vae to step 6" in result.stdout
    assert os.listdir(os.path.join(workdir, "damaged_checkpoints")) == ["6"]
    assert jaxgen.load(workdir).step == 6


def test_missing_dataset_is_a_clear_error(tmp_path):
    env = {"JAXGEN_FASHION_MNIST_DIR": str(tmp_path / "empty"),
           "JAXGEN_DATA_DIR": str(tmp_path / "tfds")}
    os.makedirs(tmp_path / "empty")
    result = run_cli("train", "vae", "--workdir", str(tmp_path / "run"), env=env, check=False)
    assert result.returncode == 2
    assert "dataset-fashion-mnist" in result.stderr and "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_load_gives_a_run_that_samples(tmp_path):
    workdir = str(tmp_path / "run")
    train(tiny_config(steps=3, ckpt_every=2), workdir, progress=False)  # saves steps 2 and 3
    run = jaxgen.load(workdir)
    assert run.step == 3
    images = run.sample(jax.random.key(0), 3)
    assert images.shape == (3, 28, 28, 1)
    np.testing.assert_array_equal(images, run.sample(jax.random.key(0), 3))
    assert jaxgen.load(workdir, step=2).step == 2
    with pytest.raises(CheckpointError, match=r"no checkpoint of step 1 .*steps \[2, 3\]"):
        jaxgen.load(workdir, step=1)
    with pytest.raises(CheckpointError):
        jaxgen.load(str(tmp_path / "missing"))
