"""Find and read run folders: `summary.json`, `metrics.jsonl` and the W&B bits of `.hydra/config.yaml`.

`find_runs(dirs)` walks each folder for `summary.json` files and returns the readable runs, the unreadable ones
(with the reason) and the incomplete ones (a `.hydra/` folder but no summary yet: still running or killed).
Left out: reading W&B's own files (`.wandb` has no Python reader); the report uses what the run wrote itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vrft.errors import DataError

REQUIRED = {"task": str, "algo": str, "model": str, "seed": int, "metric": str, "status": str}


@dataclass(frozen=True)
class Run:
    """One run folder's summary (the run-folder contract) plus where it lives."""

    dir: Path
    task: str
    algo: str
    model: str
    seed: int
    metric: str
    status: str
    shots: int | None = None
    initial: float | None = None
    final: float | None = None
    steps: int = 0
    wall_time_s: float = 0.0
    per_class_initial: dict[str, float] | None = None
    per_class_final: dict[str, float] | None = None
    overrides: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.final is not None

    @property
    def arm(self) -> str | None:
        """The study arm the run was launched with (`ablation=NAME` among its overrides), or None."""
        names = [o.partition("=")[2] for o in self.overrides if o.lstrip("+").startswith("ablation=")]
        return names[-1] if names else None

    @property
    def column(self) -> str:
        """The report column the run belongs to: its study arm, else its algo."""
        return self.arm or self.algo


@dataclass
class Found:
    runs: list[Run] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    incomplete: list[Path] = field(default_factory=list)


def _number(data: dict, key: str, path: Path) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{path}: field {key!r} must be a number or null, got {value!r}")
    return float(value)


def _per_class(data: dict, key: str, path: Path) -> dict[str, float] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise DataError(f"{path}: field {key!r} must be an object {{category: number}}")
    return {str(k): _number(value, k, path) for k in value}


def load_run(path: Path) -> Run:
    """Read one summary.json; a missing or wrongly typed field raises DataError naming the file and field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: must hold a JSON object")
    for key, kind in REQUIRED.items():
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            raise DataError(f"{path}: field {key!r} must be a {kind.__name__}, got {data.get(key)!r}")
    shots = data.get("shots")
    if shots is not None and (not isinstance(shots, int) or isinstance(shots, bool)):
        raise DataError(f"{path}: field 'shots' must be an integer or null, got {shots!r}")
    return Run(
        dir=path.parent,
        **{key: data[key] for key in REQUIRED},
        shots=shots,
        initial=_number(data, "initial", path),
        final=_number(data, "final", path),
        steps=int(_number(data, "steps", path) or 0),
        wall_time_s=_number(data, "wall_time_s", path) or 0.0,
        per_class_initial=_per_class(data, "per_class_initial", path),
        per_class_final=_per_class(data, "per_class_final", path),
        overrides=[str(o) for o in data.get("overrides") or []],
    )


def find_runs(dirs: list[Path]) -> Found:
    """Every run below `dirs` (a folder may be a run folder itself); each folder is counted once."""
    found, seen = Found(), set()
    for top in dirs:
        top = Path(top)
        if not top.is_dir():
            raise DataError(f"{top}: not a folder (pass sweep or run folders)")
        for summary in sorted(top.rglob("summary.json")):
            if summary.parent.resolve() in seen:
                continue
            seen.add(summary.parent.resolve())
            try:
                found.runs.append(load_run(summary))
            except DataError as err:
                found.unreadable.append((summary, str(err)))
        for hydra_dir in sorted(top.rglob(".hydra")):
            run_dir = hydra_dir.parent.resolve()
            if run_dir not in seen and not (run_dir / "summary.json").exists():
                seen.add(run_dir)
                found.incomplete.append(hydra_dir.parent)
    return found


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of `<run_dir>/metrics.jsonl` ([] when missing); a torn last line is skipped."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            rows.append(row)
    return rows


def wandb_settings(run_dir: Path) -> dict[str, Any]:
    """project, entity and group from `<run_dir>/.hydra/config.yaml` (group resolved; None where unknown)."""
    from omegaconf import OmegaConf

    import vrft  # noqa: F401  (registers ${vrft_root:})

    path = Path(run_dir) / ".hydra" / "config.yaml"
    if not path.exists():
        return {"project": None, "entity": None, "group": None}
    cfg = OmegaConf.load(path)
    out = {}
    for key in ("project", "entity", "group"):
        try:
            out[key] = OmegaConf.select(cfg, f"logger.{key}", throw_on_resolution_failure=True)
        except Exception:  # an interpolation that needs Hydra's runtime: unknown here
            out[key] = None
    return out


def wandb_run_ids(run_dir: Path) -> list[str]:
    """W&B run ids from `<run_dir>/wandb/{offline-,}run-<date>_<time>-<id>` folder names."""
    ids = []
    for folder in sorted((Path(run_dir) / "wandb").glob("*run-*-*")):
        if folder.is_dir() and folder.name.split("-")[0] in ("run", "offline"):
            ids.append(folder.name.rsplit("-", 1)[-1])
    return list(dict.fromkeys(ids))
