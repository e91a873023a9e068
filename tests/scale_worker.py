"""Run in a subprocess by tests/test_scale.py: train tiny runs on the forced
CPU devices (XLA_FLAGS must be set before jax is imported, hence a separate
process) and print, as one JSON line per run, what the test compares: the
logged losses, the parameters' dtypes and their bytes on one device, and
how far they are from the first run's.

argv: ROOT RUNS_JSON, RUNS_JSON a list of {"name", "family", "overrides"};
a run whose name was already trained resumes in the same workdir (its
overrides' `steps` larger), as a user's second `jaxgen train` would.
"""
import json
import os
import sys

import jax
import numpy as np

from jaxgen.engine import config as config_lib
from jaxgen.engine import sharding
from jaxgen.engine.images import WALL_CLOCK_KEYS, read_metrics
from jaxgen.engine.loop import train
from tiny_configs import tiny_overrides


def param_bytes(params, fsdp: int) -> dict:
    """Bytes of the arrays of `params` (or of any state tree) in all, on
    device 0, and in the arrays `fsdp` can split."""
    device = jax.devices()[0]
    total = on_device = shardable = 0
    for leaf in jax.tree.leaves(params):
        total += leaf.nbytes
        on_device += sum(s.data.nbytes for s in leaf.addressable_shards if s.device == device)
        if sharding.shard_axis(leaf.shape, fsdp) is not None:
            shardable += leaf.nbytes
    return {"total": total, "device0": on_device, "shardable": shardable}


def largest_difference(a, b) -> float:
    """max |a - b| over the leaves of two parameter trees, on the host."""
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def main(root: str, runs: list) -> None:
    params = {}  # run name -> its latest parameters
    for run in runs:
        overrides = tiny_overrides(run["family"], **run["overrides"])
        config = config_lib.build_config(run["family"], overrides=overrides)
        workdir = os.path.join(root, run["name"])
        state = train(config, workdir, progress=False)
        params[run["name"]] = state.params
        rows = read_metrics(os.path.join(workdir, "metrics.jsonl"))
        print(json.dumps({
            "name": run["name"], "devices": jax.device_count(),
            "train": [{k: v for k, v in r.items() if k not in WALL_CLOCK_KEYS}
                      for r in rows if r["split"] == "train"],
            "test": [r for r in rows if r["split"] == "test"],
            "param_dtypes": sorted({str(p.dtype) for p in jax.tree.leaves(state.params)}),
            "opt_dtypes": sorted({str(p.dtype) for p in jax.tree.leaves(state.opt_state)
                                  if hasattr(p, "dtype") and p.ndim}),
            "bytes": param_bytes(state.params, config.fsdp),
            "opt_bytes": param_bytes(state.opt_state, config.fsdp),
            "fsdp": config.fsdp,
            # against the first run's parameters (the reference run)
            "params_vs_first": largest_difference(state.params, params[runs[0]["name"]]),
        }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
