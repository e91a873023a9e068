"""Run in a subprocess by tests: train a tiny VAE and print its train losses
as JSON. The device count comes from XLA_FLAGS, which must be set before jax
is imported, hence a separate process."""
import json
import sys

import jax

from jaxgen.engine.loop import train
from jaxgen.engine.images import read_metrics
from conftest import tiny_config

workdir, steps = sys.argv[1], sys.argv[2]
config = tiny_config("vae", steps=steps, log_every=1, eval_every=100, sample_every=100,
                     ckpt_every=100)
train(config, workdir, progress=False)
losses = [row["loss"] for row in read_metrics(f"{workdir}/metrics.jsonl") if row["split"] == "train"]
print(json.dumps({"devices": jax.device_count(), "losses": losses}))
