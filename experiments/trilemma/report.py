"""The trilemma's outputs, drawn from trilemma.json alone (so `--replot` needs no run):

    trilemma.md          the table (Fashion-MNIST rows, grid25 rows)
    trilemma.png         FID-FMNIST against log10 images/s, colour = recall
    trilemma_curve.png   FID-FMNIST against training minutes of the best three entries
"""
from __future__ import annotations

import json
import math
import os

JSON_NAME, MD_NAME = "trilemma.json", "trilemma.md"
PICTURE_NAME, CURVE_NAME = "trilemma.png", "trilemma_curve.png"
BEST_FOR_CURVE = 3


def write_json(out_dir: str, document: dict) -> str:
    path = os.path.join(out_dir, JSON_NAME)
    os.makedirs(out_dir, exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(document, f, indent=2)
    os.replace(path + ".tmp", path)
    return path


def read_json(out_dir: str) -> dict:
    with open(os.path.join(out_dir, JSON_NAME)) as f:
        return json.load(f)


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.{digits + 1}g}"
    return str(value)


IMAGE_COLUMNS = [  # (header, row key)
    ("row", "row"), ("family", "family"), ("steps", "steps"),
    ("steps/s stated", "stated_steps_per_sec"), ("steps/s measured", "measured_steps_per_sec"),
    ("train s", "train_seconds"), ("FID-FMNIST", "fid"), ("precision", "precision"),
    ("recall", "recall"), ("class KL", "class_kl"), ("N samples", "num_samples"),
    ("images/s", "images_per_sec"), ("net evals/image", "network_evals_per_image"),
    ("batch", "sample_batch"), ("device", "device"), ("bits/dim", "bpd"),
    ("likelihood", "likelihood_kind"),
]
POINT_COLUMNS = [
    ("row", "row"), ("family", "family"), ("steps", "steps"),
    ("steps/s stated", "stated_steps_per_sec"), ("steps/s measured", "measured_steps_per_sec"),
    ("train s", "train_seconds"), ("modes (of 25)", "modes_covered"), ("high quality", "high_quality"),
    ("reverse KL", "reverse_kl"), ("N samples", "num_samples"),
]


def table(rows: list[dict], columns) -> list[str]:
    lines = ["| " + " | ".join(h for h, _ in columns) + " |",
             "|" + "|".join("---" if k in ("row", "family", "device", "likelihood_kind")
                            else "---:" for _, k in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(k)) for _, k in columns) + " |")
    return lines


def write_markdown(out_dir: str, document: dict) -> str:
    meta = document["meta"]
    lines = [f"# Generative learning trilemma, {meta['budget_minutes']:g} minutes per entry",
             "", f"Command: `{meta['command']}`", "",
             f"Machine: {meta['machine']}; load average at start {meta['load_start']}, "
             f"at end {meta.get('load_end', '-')}; seed {meta['seed']}; "
             f"{meta.get('wall_seconds', 0):.0f} s wall for this command.", "",
             "## Fashion-MNIST", ""]
    lines += table(document["rows"], IMAGE_COLUMNS)
    if document.get("grid25"):
        lines += ["", "## grid25 (2-D points)", ""]
        lines += table(document["grid25"], POINT_COLUMNS)
    failed = document.get("failed", [])
    if failed:
        lines += ["", "## Not measured", ""]
        lines += [f"- {f['row']}: {f['error']}" for f in failed]
    lines += ["", f"Picture: {PICTURE_NAME}; curve: {CURVE_NAME}.", ""]
    path = os.path.join(out_dir, MD_NAME)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def plotted_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("fid") is not None and r.get("images_per_sec")]


def write_picture(out_dir: str, document: dict) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = plotted_rows(document["rows"])
    fig, ax = plt.subplots(figsize=(8, 6))
    if rows:
        speed = [math.log10(r["images_per_sec"]) for r in rows]
        fid = [r["fid"] for r in rows]
        recall = [r.get("recall") or 0.0 for r in rows]
        points = ax.scatter(speed, fid, c=recall, cmap="viridis", vmin=0.0,
                            vmax=max(0.05, max(recall)), s=90, edgecolors="black")
        fig.colorbar(points, ax=ax, label="recall (mode coverage)")
        for x, y, r in zip(speed, fid, rows):
            ax.annotate(r["row"], (x, y), xytext=(5, 4), textcoords="offset points", fontsize=8)
    ax.set_xlabel(f"log10 images/s ({_device_words(rows)})")
    ax.set_ylabel("FID-FMNIST (lower is sharper and closer)")
    meta = document["meta"]
    ax.set_title(f"trilemma: {meta['budget_minutes']:g} min training per entry\n"
                 f"N = {_sample_sizes(rows)} samples", fontsize=10)
    ax.margins(x=0.12, y=0.08)  # room for the labels of the outermost points
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = os.path.join(out_dir, PICTURE_NAME)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _device_words(rows) -> str:
    devices = sorted({f"{r.get('device')}, batch {r.get('sample_batch')}" for r in rows})
    return "; ".join(devices) if devices else "no rows"


def _sample_sizes(rows) -> str:
    sizes = sorted({r.get("num_samples") for r in rows if r.get("num_samples")})
    return "/".join(str(s) for s in sizes) or "-"


def best_entries(rows: list[dict], count: int = BEST_FOR_CURVE) -> list[str]:
    """The `count` entries with the lowest FID (of any of their rows)."""
    best = {}
    for r in rows:
        if r.get("fid") is not None:
            best[r["entry"]] = min(best.get(r["entry"], math.inf), r["fid"])
    return sorted(best, key=best.get)[:count]


def write_curve(out_dir: str, document: dict) -> str:
    """FID against training minutes from the curves (metrics rows of each budget's
    workdir, and each budget's final evaluation)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for entry, points in sorted(document.get("curves", {}).items()):
        if not points:
            continue
        points = sorted(points, key=lambda p: p["minutes"])
        ax.plot([p["minutes"] for p in points], [p["fid"] for p in points], marker="o",
                label=f"{entry} (N = {'/'.join(sorted({str(p['num']) for p in points}))})")
    ax.set_xlabel("training minutes (engine train_seconds / 60)")
    ax.set_ylabel("FID-FMNIST")
    ax.set_title("budget curve: the best entries")
    if any(document.get("curves", {}).values()):
        ax.legend(fontsize=8)
    else:  # say so on the picture rather than show empty axes
        ax.text(0.5, 0.5, "no curve points: the best entries' workdirs hold no\n"
                "periodic metrics rows (train them with metrics_every > 0)",
                ha="center", va="center", transform=ax.transAxes)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = os.path.join(out_dir, CURVE_NAME)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(out_dir: str, document: dict) -> list[str]:
    return [write_json(out_dir, document), write_markdown(out_dir, document),
            write_picture(out_dir, document), write_curve(out_dir, document)]
