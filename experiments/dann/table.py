"""The domain-adaptation table from runs/dann/ROW_seedS/{eval,timing}.json:
target accuracy per row, mean and standard error over seeds, and the gap
closed = (DANN - source only) / (oracle - source only), per seed and of the means.

    python experiments/dann/table.py runs/dann
"""
import json
import math
import os
import re
import sys

ROWS = ("source_only", "dann", "oracle")


def load(root):
    out = {}
    for name in sorted(os.listdir(root)):
        m = re.fullmatch(r"(\w+)_seed(\d+)", name)
        path = os.path.join(root, name, "eval.json")
        if not m or not os.path.exists(path):
            continue
        with open(path) as f:
            ev = json.load(f)
        timing_path = os.path.join(root, name, "timing.json")
        timing = json.load(open(timing_path)) if os.path.exists(timing_path) else {}
        out.setdefault(m.group(1), {})[int(m.group(2))] = {**ev, **timing}
    return out


def mean_se(values):
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def main(root):
    runs = load(root)
    print("| row | seeds | target accuracy (mean +- s.e.) | source accuracy | "
          "domain accuracy (test) | train s per run |")
    print("|---|---|---|---|---|---|")
    means = {}
    for row in ROWS:
        if row not in runs:
            continue
        seeds = sorted(runs[row])
        acc = [runs[row][s]["target_accuracy"] for s in seeds]
        means[row] = mean_se(acc)[0]
        src = [runs[row][s].get("source_accuracy") for s in seeds]
        dom = [runs[row][s].get("domain_accuracy") for s in seeds]
        secs = [runs[row][s].get("train_seconds", float("nan")) for s in seeds]
        fmt = lambda v: "-" if v[0] is None else "%.3f" % (sum(v) / len(v))
        m, se = mean_se(acc)
        print(f"| {row} | {','.join(map(str, seeds))} | {m:.3f} +- {se:.3f} | {fmt(src)} | "
              f"{fmt(dom)} | {sum(secs) / len(secs):.0f} |")
    if all(r in means for r in ROWS):
        gap = (means["dann"] - means["source_only"]) / (means["oracle"] - means["source_only"])
        print(f"\ngap closed (of the means): {gap:.3f}")
        common = sorted(set.intersection(*(set(runs[r]) for r in ROWS)))
        for s in common:
            a = {r: runs[r][s]["target_accuracy"] for r in ROWS}
            g = (a["dann"] - a["source_only"]) / (a["oracle"] - a["source_only"])
            print(f"seed {s}: DANN - source only = {a['dann'] - a['source_only']:+.3f}, "
                  f"gap closed {g:.3f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/dann")
