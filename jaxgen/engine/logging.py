"""Where training metrics go: metrics.jsonl, TensorBoard, and the progress bar."""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from jaxgen.engine import workdir as workdir_lib


class MetricsLogger:
    """Appends one JSON object per line to WORKDIR/metrics.jsonl and mirrors
    each value to TensorBoard (tensorboardX writes event files without TensorFlow).

    `enabled` False (every process of a multi-process run but process 0):
    nothing is read or written; the metrics are the same on every process.
    """

    def __init__(self, workdir: str, tensorboard: bool = True, enabled: bool = True):
        self.path = os.path.join(workdir, "metrics.jsonl")
        self.enabled = enabled
        self._writer = None
        if tensorboard and enabled:
            from tensorboardX import SummaryWriter
            self._writer = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def drop_after(self, step: int) -> None:
        """On resume, forget lines logged after the checkpoint we restart from,
        so the file reads as if the run had never been interrupted (on a fresh
        start, step 0: every line, those of a run killed before its first
        checkpoint). A line that is not a JSON row (a write cut short by a
        full disk or a kill) is dropped with a warning."""
        if not self.enabled or not os.path.lexists(self.path):
            return
        kept, dropped_bad = [], 0
        for number, line in enumerate(workdir_lib.read_text(self.path).splitlines(), 1):
            if not line.strip():
                continue
            row = parse_row(line)
            if row is None:
                dropped_bad += 1
                continue
            if row["step"] <= step:
                kept.append(line + "\n")
        if dropped_bad:
            print(f"jaxgen: warning: dropped {dropped_bad} unreadable line(s) of {self.path}",
                  file=sys.stderr)
        workdir_lib.write_atomically(self.path, "".join(kept))

    def write(self, step: int, split: str, values: dict) -> None:
        if not self.enabled:
            return
        row = {"step": int(step), "split": split}
        row.update({k: _to_python(v) for k, v in values.items()})
        with workdir_lib.open_append(self.path) as f:
            f.write(json.dumps(row) + "\n")
        if self._writer is not None:
            for name, value in row.items():
                if isinstance(value, (int, float)) and name != "step":
                    self._writer.add_scalar(f"{split}/{name}", value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def parse_row(line: str) -> dict | None:
    """One metrics.jsonl line as a dict with an int `step`, or None if it is not one."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    if not isinstance(row, dict) or not isinstance(row.get("step"), int):
        return None
    return row


def _to_python(value):
    value = np.asarray(value)
    return value.item() if value.size == 1 else value.tolist()


class Progress:
    """A tqdm bar showing the loss and steps/s; silent when `enabled` is False."""

    def __init__(self, total: int, initial: int, enabled: bool = True):
        # In a log file (no terminal) redraw rarely, or the log fills with bars.
        interactive = sys.stderr.isatty()
        self._bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True,
                         disable=not enabled, file=sys.stderr,
                         mininterval=0.2 if interactive else 30.0)
        self._last_time, self._last_step = time.perf_counter(), initial

    def update(self, step: int, losses: dict | None) -> float:
        """Advance to `step`, showing `losses` (name -> value); returns steps/s
        since the previous update."""
        now = time.perf_counter()
        rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._bar.update(step - self._last_step)
        if losses:
            shown = {name: f"{value:.4g}" for name, value in list(losses.items())[:3]}
            self._bar.set_postfix(**shown, steps_per_s=f"{rate:.1f}", refresh=False)
        self._last_time, self._last_step = now, step
        return rate

    def write(self, message: str) -> None:
        """A line on stderr above the bar (also when the bar is hidden)."""
        self._bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self._bar.close()
