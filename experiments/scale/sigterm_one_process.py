"""SIGTERM to one process of a 2-process run: every process saves the same
step and exits 143 (128 + SIGTERM).

    python experiments/scale/sigterm_one_process.py [WORKDIR]

Trains a tiny VAE in 2 local processes x 2 CPU devices until checkpoint 5
exists, sends SIGTERM to process 1 only, and prints the exit codes and the
checkpoints left.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from jaxgen.engine import local_cluster  # noqa: E402

workdir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="sigterm_")
port = local_cluster.free_port()
args = [sys.executable, "-m", "jaxgen.cli", "train", "vae", "--workdir", workdir, "--no-progress",
        "--config.steps=100000", "--config.ckpt_every=5", "--config.batch_size=8",
        "--config.log_every=5", "--config.enc_channels=(4, 8, 8)",
        "--config.dec_channels=(8, 8, 4)", "--config.eval_every=100000",
        "--config.sample_every=100000", "--config.eval_batches=1"]
logs = [open(os.path.join(workdir + f".process-{i}.log"), "w") for i in range(2)]
procs = [subprocess.Popen(args + local_cluster.distributed_args(port, 2, i, 30),
                          env=local_cluster.cpu_env(2), stdout=logs[i], stderr=subprocess.STDOUT)
         for i in range(2)]
start = time.time()
while not os.path.isdir(os.path.join(workdir, "checkpoints", "5")) and time.time() - start < 600:
    time.sleep(0.5)
procs[1].send_signal(signal.SIGTERM)
sent = time.time()
codes = [p.wait(timeout=300) for p in procs]
steps = sorted(os.listdir(os.path.join(workdir, "checkpoints")), key=int)
print(f"exit codes {codes}, {time.time() - sent:.0f} s after the SIGTERM; checkpoints {steps}; "
      f"logs {workdir}.process-*.log")
