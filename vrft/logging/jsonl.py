"""`JsonlLogger`: a Lightning logger that appends one JSON object per logged step to `<run_dir>/metrics.jsonl`.

Each line is `{"step": int, "<split>/<name>": value, ...}`, flushed as it is written, so a crashed or running job
can be read at any time (vrft.report reads these files). Tensors and numpy scalars become floats; NaN and
infinities are written as JSON `NaN`/`Infinity` (Python's `json` reads them back). Only rank 0 writes.
Left out: hyperparameters (Hydra saves the config in `.hydra/`), images and tables (W&B gets those).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

FILENAME = "metrics.jsonl"


def to_scalar(value: Any) -> Any:
    """A JSON-ready scalar: tensors and numpy numbers to Python numbers; other JSON types unchanged."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return float(value)


def metrics_line(metrics: Mapping[str, Any], step: int | None) -> str:
    """One metrics.jsonl line; `step` comes first, then the metrics in the order given."""
    row: dict[str, Any] = {"step": int(step) if step is not None else None}
    for key, value in metrics.items():
        if key != "step":
            row[key] = to_scalar(value)
    return json.dumps(row, allow_nan=True)


class JsonlLogger(Logger):
    """Appends metrics to `<run_dir>/metrics.jsonl` (append mode: a resumed run continues the same file)."""

    def __init__(self, run_dir: str | Path, filename: str = FILENAME):
        super().__init__()
        self._run_dir = Path(run_dir)
        self.path = self._run_dir / filename
        self._file: TextIO | None = None

    @property
    def name(self) -> str:
        return "jsonl"

    @property
    def version(self) -> str:
        return ""

    @property
    def root_dir(self) -> str:
        return str(self._run_dir)

    @property
    def log_dir(self) -> str:
        return str(self._run_dir)

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Nothing to do: the resolved config is in `.hydra/config.yaml`."""

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(metrics_line(metrics, step) + "\n")
        self._file.flush()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
