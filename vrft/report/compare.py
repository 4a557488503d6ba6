"""The per-run table of the report: one row per run, with the config keys that differ between the runs.

Each run's config is the whole typed config it began with (`run_config.json`, written at its start); a run folder
without one falls back to its command-line overrides (`summary.json` "overrides"). Keys that cannot change results
(where files go, loggers, checkpoint cadence: `vrft.checkpointing.run_config.FREE`) are left out, so the columns are
the experiment's variables (algo, shots, seed, ...). Left out: configs of runs that are not on this disk (W&B's).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from vrft.checkpointing.run_config import FILE, FREE, flatten
from vrft.report.runs import Run

MAX_COLUMNS = 8  # more differing keys than this are listed below the table instead


def run_config(run: Run) -> dict[str, object]:
    """The run's flattened config (dotted key -> value): run_config.json, else its overrides."""
    path = run.dir / FILE
    if path.is_file():
        try:
            return flatten(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            pass
    pairs = (o.lstrip("+~").split("=", 1) for o in run.overrides if "=" in o)
    return {k: v for k, v in pairs if not k.startswith("hydra.")}


def differing_keys(configs: list[dict[str, object]]) -> list[str]:
    """Keys whose value differs between the configs (or is missing from some), results-relevant ones only."""
    keys = sorted({k for c in configs for k in c})
    free = [k for k in keys if any(k == f or k.startswith(f + ".") for f in FREE)]
    missing = object()
    return [k for k in keys if k not in free and len({_text(c.get(k, missing)) for c in configs}) > 1]


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def run_rows(runs: list[Run], out_dir: Path, final) -> tuple[list[str], list[list], list[str]]:
    """(header, rows, keys left out of the columns) of the per-run table, sorted by algo, shots and seed.

    `final(run)` is the run's final headline value (None: failed); the run cell links to the run folder, relative
    to `out_dir` where the report is written.
    """
    from vrft.report.document import Link

    runs = sorted(runs, key=lambda r: (r.task, r.model, r.algo, r.shots or 0, r.seed, str(r.dir)))
    configs = [run_config(r) for r in runs]
    keys = differing_keys(configs)
    shown, rest = keys[:MAX_COLUMNS], keys[MAX_COLUMNS:]
    metrics = len({r.metric for r in runs}) > 1
    header = ["run", *shown, "status", "steps", *(["metric"] if metrics else []), "initial", "final", "Δ"]
    rows = []
    for run, config in zip(runs, configs, strict=True):
        rel = os.path.relpath(run.dir, out_dir)
        f, i = final(run), run.initial
        cells = [_text(config[k]) if k in config else "–" for k in shown]
        numbers = [_num(i), _num(f), f"{f - i:+.1f}" if f is not None and i is not None else "–"]
        rows.append(
            [Link(rel, rel), *cells, run.status, str(run.steps), *([run.metric] if metrics else []), *numbers]
        )
    return header, rows, rest


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"
