"""Group runs and reduce over seeds: the numbers behind every table and plot of the report (pure functions).

A *section* is one (task, model, metric) combination; inside it a *cell* is one (column, shots) pair whose runs
differ only by seed, the column being the run's algo or, for a study's arm (`ablation=NAME`), the arm. Cells report mean, sample standard deviation (n - 1; none for one seed) and n. Curves are
averaged per step over the seeds that logged that step. Only runs with status "ok" enter; failed ones are listed
by the caller. `band` gives a curve group's mean, min-max band over seeds and smoothed mean for the plots. Left out:
confidence intervals and significance tests (seed counts are small).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vrft.report.runs import Run

ALGO_ORDER = ("grpo", "dr_grpo", "dapo", "sft")


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float | None
    n: int

    def fmt(self, digits: int = 1) -> str:
        if self.std is None:
            return f"{self.mean:.{digits}f} (n={self.n})"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f} (n={self.n})"


def stat(values: Iterable[float | None]) -> Stat | None:
    """Mean, sample std and count of the finite values; None when there are none."""
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None
    return Stat(statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None, len(vals))


def algo_key(algo: str) -> tuple[int, str]:
    return (ALGO_ORDER.index(algo), "") if algo in ALGO_ORDER else (len(ALGO_ORDER), algo)


def shots_key(shots: int | None) -> float:
    return math.inf if shots is None else shots


def shots_label(shots: int | None) -> str:
    return "all" if shots is None else str(shots)


@dataclass
class Section:
    task: str
    model: str
    metric: str
    runs: list[Run]

    @property
    def title(self) -> str:
        return f"{self.task} · {self.model} · {self.metric}"

    @property
    def slug(self) -> str:
        raw = f"{self.task}_{self.model}_{self.metric}"
        return "".join(c if c.isalnum() or c in "-_" else "-" for c in raw)

    @property
    def algos(self) -> list[str]:
        """The columns: algos (or study arms, `Run.column`), known algos first."""
        return sorted({r.column for r in self.runs}, key=algo_key)

    @property
    def shots(self) -> list[int | None]:
        return sorted({r.shots for r in self.runs}, key=shots_key)

    def cell(self, algo: str, shots: int | None) -> list[Run]:
        return [r for r in self.runs if r.column == algo and r.shots == shots]


def sections(runs: Iterable[Run], metric: str | None = None) -> list[Section]:
    """Ok runs grouped by (task, model, metric); `metric` relabels every section (see `metric_value`)."""
    groups: dict[tuple[str, str, str], list[Run]] = defaultdict(list)
    for run in runs:
        if run.ok:
            groups[(run.task, run.model, metric or run.metric)].append(run)
    return [Section(t, m, k, rs) for (t, m, k), rs in sorted(groups.items())]


Value = Callable[[Run], float | None]


def final_table(section: Section, value: Value) -> list[list[str]]:
    """Rows `shots | <algo> ...` of "mean ± std (n)" cells ("–" where no run has a value)."""
    rows = []
    for shots in section.shots:
        row = [shots_label(shots)]
        for algo in section.algos:
            s = stat(value(r) for r in section.cell(algo, shots))
            row.append(s.fmt() if s else "–")
        rows.append(row)
    return rows


def initial_final_rows(section: Section, initial: Value, final: Value) -> list[list[str]]:
    """Rows `algo | shots | initial | final | Δ | n` (means over seeds)."""
    rows = []
    for algo in section.algos:
        for shots in section.shots:
            cell = section.cell(algo, shots)
            if not cell:
                continue
            i, f = stat(initial(r) for r in cell), stat(final(r) for r in cell)
            delta = f"{f.mean - i.mean:+.1f}" if i and f else "–"
            rows.append(
                [
                    algo,
                    shots_label(shots),
                    f"{i.mean:.1f}" if i else "–",
                    f"{f.mean:.1f}" if f else "–",
                    delta,
                    str(len(cell)),
                ]
            )
    return rows


def per_class_table(section: Section) -> tuple[list[str], list[list[str]]]:
    """Header and rows `category | initial | <algo> <shots>-shot ...` of per_class_final means over seeds."""
    cols = [(a, s) for a in section.algos for s in section.shots if section.cell(a, s)]
    cats = list(dict.fromkeys(c for r in section.runs for c in (r.per_class_final or {})))
    if not cats:
        return [], []
    header = ["category", "initial"] + [f"{a} {shots_label(s)}-shot" for a, s in cols]
    rows = []
    for cat in cats:
        init = stat((r.per_class_initial or {}).get(cat) for r in section.runs)
        row = [cat, f"{init.mean:.1f}" if init else "–"]
        for algo, shots in cols:
            s = stat((r.per_class_final or {}).get(cat) for r in section.cell(algo, shots))
            row.append(f"{s.mean:.1f}" if s else "–")
        rows.append(row)
    return header, rows


def mean_curve(series: Iterable[dict[int, float]]) -> tuple[list[int], list[float]]:
    """Per-step mean over several {step: value} series (a step counts the series that logged it)."""
    by_step: dict[int, list[float]] = defaultdict(list)
    for one in series:
        for step, value in one.items():
            if value is not None and math.isfinite(value):
                by_step[step].append(value)
    steps = sorted(by_step)
    return steps, [statistics.fmean(by_step[s]) for s in steps]


def series(rows: Iterable[dict], key: str) -> dict[int, float]:
    """{step: value} of `key` in metrics.jsonl rows (the last value wins for a repeated step)."""
    out = {}
    for row in rows:
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[int(row["step"])] = float(value)
    return out


@dataclass(frozen=True)
class Band:
    """One group's curve over seeds, per step: the mean, the lowest and highest seed (the band), the smoothed mean
    (`smooth`, what the eye follows) and how many seeds logged anything."""

    steps: list[int]
    mean: list[float]
    low: list[float]
    high: list[float]
    smooth: list[float]
    n: int


def band(series: Iterable[dict[int, float]], smoothing: float = 0.6) -> Band:
    """Per-step mean, min and max over the `series` ({step: value}, one per seed) and the mean smoothed by `ema`."""
    by_step: dict[int, list[float]] = defaultdict(list)
    n = 0
    for one in series:
        n += bool(one)
        for step, value in one.items():
            if value is not None and math.isfinite(value):
                by_step[step].append(value)
    steps = sorted(by_step)
    mean = [statistics.fmean(by_step[s]) for s in steps]
    low, high = [min(by_step[s]) for s in steps], [max(by_step[s]) for s in steps]
    return Band(steps, mean, low, high, ema(mean, smoothing), n)


def ema(values: list[float], weight: float) -> list[float]:
    """Exponential moving average with the start-up bias removed (TensorBoard's smoothing, W&B's "exponential
    moving average"): `weight` 0 keeps the values, towards 1 smooths more."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight {weight} must be in [0, 1)")
    out, last = [], 0.0
    for i, v in enumerate(values, start=1):
        last = weight * last + (1.0 - weight) * v
        out.append(last / (1.0 - weight**i))
    return out


DIAGNOSTICS = ("precision@50", "recall@50", "recall@75", "rejection_rate", "false_rejection_rate", "ece")
"""The detection diagnostics the report tabulates (vrft.evaluation.diagnostics; the run's
`eval/diagnostics_final.json`)."""


def diagnostics_rows(section: Section, read: Callable[[Run], dict]) -> list[list[str]]:
    """Rows `algo | shots | <diagnostic> ... | n` of "mean ± std" over seeds, for cells whose runs wrote
    diagnostics (`read(run)`: the run's final diagnostics, {} when absent)."""
    rows = []
    for algo in section.algos:
        for shots in section.shots:
            diags = [d for d in (read(r) for r in section.cell(algo, shots)) if d]
            if not diags:
                continue
            stats = [stat(_num(d.get(k)) for d in diags) for k in DIAGNOSTICS]
            cells = [s.fmt().rsplit(" (n=", 1)[0] if s else "–" for s in stats]
            rows.append([algo, shots_label(shots), *cells, str(len(diags))])
    return rows


def _num(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
