"""Re-create the shipped extractor weights from a seed.

    nice -n 19 python -m jaxgen.build_extractor --workdir runs/extractor [--seed 0]

Trains the `classifier` family's CNN with its default config (the recipe in
experiments/classifier/cnn.py) through the ordinary engine, reports its test
accuracy, and writes the parameters with their config to
`jaxgen/metrics/weights/fmnist_cnn.msgpack` (or `--out`). The run is a pure
function of the seed, so on the same software stack the file comes out
bit-identical; its sha256 is printed and must match
`extractor.FMNIST_SHA256` for the shipped weights. It is a top-level
command beside cli.py, not part of jaxgen.metrics (metrics/ imports no
family) nor of the classifier package (families never import the training
loop); metrics/ keeps only the weights' format and their loader.
"""
from __future__ import annotations

import argparse
import os
import sys

from jaxgen.metrics import extractor

EPOCH = 469  # batches of 128 in the 60,000 training images


def extractor_config(seed: int):
    from jaxgen.engine import config as config_lib
    config = config_lib.build_config("classifier", overrides={
        "model": "cnn", "seed": str(seed), "steps": str(10 * EPOCH),
        "eval_every": str(EPOCH), "ckpt_every": str(EPOCH), "sample_every": str(10 * EPOCH)})
    return config


def build(workdir: str, seed: int, out: str, progress: bool = True) -> dict:
    import jax

    import jaxgen
    from jaxgen.classifier import evaluation
    from jaxgen.engine.loop import train

    train(extractor_config(seed), workdir, progress=progress)
    run = jaxgen.load(workdir)
    accuracy = evaluation.test_accuracy(run, jax.random.key(0), 10_000)["test_accuracy"]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".tmp", "wb") as f:
        f.write(extractor.serialize_weights(run.state.params, run.config))
    os.replace(out + ".tmp", out)
    return {"path": out, "sha256": extractor.file_sha256(out), "test_accuracy": accuracy,
            "bytes": os.path.getsize(out)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="where the classifier run lives")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=extractor.FMNIST_WEIGHTS)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    result = build(args.workdir, args.seed, args.out, progress=not args.no_progress)
    for name, value in result.items():
        print(f"{name:14s} {value}")
    if os.path.abspath(args.out) == extractor.FMNIST_WEIGHTS \
            and result["sha256"] != extractor.FMNIST_SHA256:
        print("note: sha256 differs from extractor.FMNIST_SHA256; update that constant to "
              "ship these weights", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
