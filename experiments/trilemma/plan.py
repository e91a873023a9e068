"""What the trilemma benchmark trains and evaluates: entries, their step counts, rows.

An entry is one trained workdir: a config file of configs/ (Fashion-MNIST) or
configs/grid25/ (the 2-D points). A row is one evaluated sampler of an entry:
most entries have one row named after the file; `ddpm` has one row per sampler
(VARIANTS), all on the same workdir. Stages (ROW = False) are trained because an
entry depends on them (DEPENDS), and are not rows.

Everything here is pure: it reads the config modules and computes names,
paths and overrides; nothing is trained or written.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os

from jaxgen.errors import ConfigError

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIGS = os.path.join(HERE, "configs")
KINDS = ("images", "grid25")


def config_dir(root: str, kind: str) -> str:
    """Fashion-MNIST entries in ROOT, grid25 entries in ROOT/grid25."""
    return root if kind == "images" else os.path.join(root, "grid25")
MIN_STEPS = 2


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str              # file name without .py
    kind: str              # "images" or "grid25"
    path: str              # the config file
    steps_per_sec: float
    rate_source: str
    schedule: dict         # config key -> fraction of the steps
    variants: dict         # row name -> {config key: string value}
    depends: dict          # config key -> entry name (same kind)
    budget_share: float
    is_row: bool

    @property
    def key(self) -> str:
        return entry_key(self.kind, self.name)


def entry_key(kind: str, name: str) -> str:
    """Unique over both kinds: `gan` and `grid25/gan`."""
    return name if kind == "images" else f"grid25/{name}"


def _load_module(path: str):
    name = "_trilemma_entry_" + path.replace(os.sep, "_").replace(".", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_entry(root: str, kind: str, name: str) -> Entry:
    path = os.path.abspath(os.path.join(config_dir(root, kind), f"{name}.py"))
    try:
        module = _load_module(path)
    except Exception as err:  # a config file is user code: one line, not a traceback
        raise ConfigError(f"trilemma config {path} failed to load: {err}") from err
    if not hasattr(module, "STEPS_PER_SEC") or not hasattr(module, "get_config"):
        raise ConfigError(f"trilemma config {path} must define get_config() and STEPS_PER_SEC")
    rate = float(getattr(module, "STEPS_PER_SEC"))
    if rate <= 0:
        raise ConfigError(f"{path}: STEPS_PER_SEC must be > 0, got {rate}")
    variants = getattr(module, "VARIANTS", None) or {name: {}}
    return Entry(name=name, kind=kind, path=path, steps_per_sec=rate,
                 rate_source=getattr(module, "RATE_SOURCE", ""),
                 schedule=dict(getattr(module, "SCHEDULE", {})),
                 variants={row: dict(values) for row, values in variants.items()},
                 depends=dict(getattr(module, "DEPENDS", {})),
                 budget_share=float(getattr(module, "BUDGET_SHARE", 1.0)),
                 is_row=bool(getattr(module, "ROW", True)))


def entry_names(root: str, kind: str) -> list[str]:
    folder = config_dir(root, kind)
    if not os.path.isdir(folder):
        if kind == "images":
            raise ConfigError(f"--configs {root} is not a folder of trilemma configs")
        return []
    return sorted(f[:-3] for f in os.listdir(folder)
                  if f.endswith(".py") and not f.startswith("_"))


def all_entries(root: str = DEFAULT_CONFIGS) -> dict:
    """key -> Entry of every config file under root."""
    out = {}
    for kind in KINDS:
        for name in entry_names(root, kind):
            entry = load_entry(root, kind, name)
            out[entry.key] = entry
    return out


def selectable_names(entries: dict) -> list[str]:
    """The names --families accepts: every entry that is a row (stages come with them)."""
    return sorted({e.name for e in entries.values() if e.is_row})


def select(entries: dict, families: list[str] | None, grid25: bool = True) -> list[Entry]:
    """The entries to run, dependencies first, in a stable order.

    families: names as in selectable_names (None: all); a name selects its
    Fashion-MNIST entry and, with grid25, its grid25 entry.
    """
    known = selectable_names(entries)
    wanted = known if families is None else families
    unknown = [f for f in wanted if f not in known]
    if unknown:
        raise ConfigError(f"unknown famil{'y' if len(unknown) == 1 else 'ies'} "
                          f"{', '.join(map(repr, unknown))} for --families; known: "
                          f"{', '.join(known)}")
    chosen = []

    def add(entry: Entry) -> None:
        for stage in entry.depends.values():
            add(entries[entry_key(entry.kind, stage)])
        if entry not in chosen:
            chosen.append(entry)

    for kind in KINDS:
        if kind == "grid25" and not grid25:
            continue
        for name in wanted:
            entry = entries.get(entry_key(kind, name))
            if entry is not None and entry.is_row:
                add(entry)
    return chosen


def budget_steps(entry: Entry, minutes: float) -> int:
    """The fixed step count of `minutes` of training at the entry's stated rate."""
    return max(MIN_STEPS, round(minutes * 60.0 * entry.budget_share * entry.steps_per_sec))


def budget_label(minutes: float) -> str:
    return f"{minutes:g}min"


def workdir(root: str, entry: Entry, minutes: float) -> str:
    prefix = "" if entry.kind == "images" else "grid25-"
    return os.path.join(root, f"{prefix}{entry.name}-{budget_label(minutes)}")


def train_overrides(entry: Entry, steps: int, minutes: float, root: str,
                    curve_points: int = 0, curve_num: int = 2000,
                    extra: dict | None = None) -> dict:
    """--config.KEY=VALUE strings of one entry's training at `steps`.

    A checkpoint four times per run (a killed run resumes), the final sample
    grid and test eval only, and, with curve_points > 0, that many periodic
    FID evaluations (rows of split "metrics" with train_seconds: the budget
    curve) on curve_num samples.
    """
    out = {"steps": steps, "ckpt_every": max(1, steps // 4), "sample_every": steps,
           "eval_every": steps, "log_every": max(1, min(100, steps // 10))}
    for key, fraction in entry.schedule.items():
        out[key] = max(1, round(fraction * steps))
    for key, stage in entry.depends.items():
        stage_entry = dataclasses.replace(entry, name=stage)
        out[key] = os.path.abspath(workdir(root, stage_entry, minutes))
    if curve_points > 0 and entry.is_row and entry.kind == "images":
        out.update(metrics_every=max(1, steps // curve_points), metrics="fid",
                   metrics_num=curve_num)
    out.update(extra or {})
    return {key: str(value) for key, value in out.items()}


def rows(entries: list[Entry]) -> list[tuple[str, Entry, dict]]:
    """(row name, entry, sampler overrides) of every row, in entry order."""
    return [(row, entry, overrides) for entry in entries if entry.is_row
            for row, overrides in entry.variants.items()]
