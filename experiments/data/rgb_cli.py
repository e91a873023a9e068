"""Train every image family on `fashion_mnist_m` (RGB 28x28) from the command line.

    nice python experiments/data/rgb_cli.py [--out experiments/results/data_rgb_cli.md]

For each registered family whose default dataset holds images, this runs

    jaxgen train FAMILY --workdir TMP/FAMILY --config.dataset=fashion_mnist_m
        --config.steps=2 <the family's tiny sizes from tests/tiny_configs.py>
    jaxgen sample --workdir TMP/FAMILY --num 8 --out TMP/FAMILY.png   (families that sample)

as a user would type them (a subprocess each), and writes a table of exit
status and wall time. It proves the "no code change beyond the config" claim
on the real RGB dataset; the network sizes are tiny because only the
machinery is under test (the contract test does the same in-process on a
32x32 folder).
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from tiny_configs import tiny_overrides  # noqa: E402

from jaxgen import data, registry  # noqa: E402
from jaxgen.engine.config import build_config  # noqa: E402


def image_families() -> list:
    return [name for name in registry.names()
            if data.kind(build_config(name)) == "images"]


def run(command: list) -> tuple:
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True)
    last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
    return done.returncode, time.time() - start, last[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "experiments/results/data_rgb_cli.md"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in image_families():
            overrides = tiny_overrides(family, dataset="fashion_mnist_m", steps=2)
            workdir = os.path.join(tmp, family)
            train = (["jaxgen", "train", family, "--workdir", workdir, "--no-progress"]
                     + [f"--config.{k}={v}" for k, v in overrides.items()])
            code, seconds, last = run(train)
            sample_code, sample_seconds = None, 0.0
            if code == 0 and registry.get(family).sample is not None:
                sample_code, sample_seconds, last_sample = run(
                    ["jaxgen", "sample", "--workdir", workdir, "--num", "8",
                     "--out", os.path.join(tmp, f"{family}.png")])
                last = last if sample_code == 0 else last_sample
            rows.append((family, code, seconds, sample_code, sample_seconds, last.replace(tmp, "TMP")))
            print(f"{family:12s} train rc={code} {seconds:6.1f} s  sample rc={sample_code} "
                  f"{sample_seconds:5.1f} s  {last}", flush=True)
    with open(args.out, "w") as f:
        f.write("# Every image family trains on fashion_mnist_m (RGB) from the command line\n\n")
        f.write(f"Command: `nice python experiments/data/rgb_cli.py` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, other jobs "
                f"running beside it). Each row is `jaxgen train FAMILY --config.dataset=fashion_mnist_m "
                f"--config.steps=2` with the family's tiny sizes (tests/tiny_configs.py), then "
                f"`jaxgen sample --num 8`; times include start-up and compilation.\n\n")
        f.write("| family | train exit | train wall (s) | sample exit | sample wall (s) | last line |\n")
        f.write("|---|---:|---:|---:|---:|---|\n")
        for family, code, seconds, sample_code, sample_seconds, last in rows:
            sample = ("n/a | n/a | " if sample_code is None
                      else f"{sample_code} | {sample_seconds:.1f} | ")
            f.write(f"| `{family}` | {code} | {seconds:.1f} | {sample}"
                    f"{last.replace('|', '/')[:90]} |\n")
    failed = [r[0] for r in rows if r[1] != 0 or r[3] not in (0, None)]
    print(f"wrote {args.out}; failed: {failed or 'none'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
