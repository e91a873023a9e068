"""Where training metrics go: metrics.jsonl, TensorBoard, and the progress bar."""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
from tqdm import tqdm


class MetricsLogger:
    """Appends one JSON object per line to WORKDIR/metrics.jsonl and mirrors
    each value to TensorBoard (tensorboardX writes event files without TensorFlow).
    """

    def __init__(self, workdir: str, tensorboard: bool = True):
        self.path = os.path.join(workdir, "metrics.jsonl")
        self._writer = None
        if tensorboard:
            from tensorboardX import SummaryWriter
            self._writer = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def drop_after(self, step: int) -> None:
        """On resume, forget lines logged after the checkpoint we restart from,
        so the file reads as if the run had never been interrupted."""
        if not os.path.exists(self.path):
            return
        with open(self.path) as f:
            lines = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
        with open(self.path + ".tmp", "w") as f:
            f.writelines(lines)
        os.replace(self.path + ".tmp", self.path)

    def write(self, step: int, split: str, values: dict) -> None:
        row = {"step": int(step), "split": split}
        row.update({k: _to_python(v) for k, v in values.items()})
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self._writer is not None:
            for name, value in row.items():
                if isinstance(value, (int, float)) and name != "step":
                    self._writer.add_scalar(f"{split}/{name}", value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


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

    def update(self, step: int, loss: float | None) -> float:
        """Advance to `step`; returns steps/s since the previous update."""
        now = time.perf_counter()
        rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._bar.update(step - self._last_step)
        if loss is not None:
            self._bar.set_postfix(loss=f"{loss:.4g}", steps_per_s=f"{rate:.1f}", refresh=False)
        self._last_time, self._last_step = now, step
        return rate

    def write(self, message: str) -> None:
        self._bar.write(message)

    def close(self) -> None:
        self._bar.close()
