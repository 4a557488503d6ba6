"""Build the comparison report from run folders and write report.md, report.html and the PNG plots.

Per (task, model, metric) section: the headline metric by shots x algo (mean ± std over seeds, n), a plot of it,
initial vs final, reward, loss and metric curves from metrics.jsonl (mean over seeds per algo and shots), the
per-category table from `per_class_final`, and for detection the diagnostics of `eval/diagnostics_final.json`.
A study's arms (`ablation=NAME`) are columns of their own in place of the algo. Failed, unreadable and incomplete runs are listed, never averaged.
Left out: runs without a summary.json beyond listing them (their metrics.jsonl may be partial).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

from vrft.report import aggregate as agg
from vrft.report.document import Document, Heading, Img, Para, Table, to_html, to_markdown
from vrft.report.plots import plot_curves, plot_final_vs_shots
from vrft.report.runs import Found, Run, read_metrics

REWARD_KEY = "train/reward"
LOSS_KEY = "train/loss"


@dataclass
class Report:
    document: Document
    found: Found
    sections: list[agg.Section]
    plots: list[Path]


@lru_cache(maxsize=4096)
def _metrics(run_dir: Path) -> tuple[dict, ...]:
    return tuple(read_metrics(run_dir))


def final_diagnostics(run: Run) -> dict:
    """The run's final detection diagnostics (`eval/diagnostics_final.json`), {} when it wrote none."""
    path = run.dir / "eval" / "diagnostics_final.json"
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def metric_key(run: Run, metric: str) -> str:
    return f"val/{run.task}/{metric}"


def final_value(run: Run, metric: str) -> float | None:
    """The run's `final` for its headline metric, else the last logged `val/<task>/<metric>`."""
    if metric == run.metric:
        return run.final
    values = agg.series(_metrics(run.dir), metric_key(run, metric))
    return values[max(values)] if values else None


def initial_value(run: Run, metric: str) -> float | None:
    return run.initial if metric == run.metric else None


def build_report(found: Found, out_dir: Path, metric: str | None = None, sources: list[Path] = ()) -> Report:
    """The report document for `found`; plots are written into `out_dir` as they are made."""
    _metrics.cache_clear()
    doc = Document("vrft report")
    failed = [r for r in found.runs if not r.ok]
    ok = [r for r in found.runs if r.ok]
    doc.add(
        Para(
            f"Sources: {', '.join(str(s) for s in sources) or '-'}. {len(ok)} finished runs, "
            f"{len(failed)} failed, {len(found.incomplete)} incomplete, {len(found.unreadable)} unreadable."
        )
    )
    secs = agg.sections(found.runs, metric)
    plots: list[Path] = []
    for section in secs:
        plots += _section(doc, section, Path(out_dir))
    _problems(doc, failed, found)
    return Report(doc, found, secs, plots)


def _section(doc: Document, sec: agg.Section, out: Path) -> list[Path]:
    final = partial(final_value, metric=sec.metric)
    initial = partial(initial_value, metric=sec.metric)
    doc.add(
        Heading(sec.title, 2),
        Heading(f"{sec.metric} (final, %) by shots × algo: mean ± std over seeds (n)", 3),
        Table(["shots", *sec.algos], agg.final_table(sec, final)),
        Heading("Initial vs final (means over seeds)", 3),
        Table(["algo", "shots", "initial", "final", "Δ", "n"], agg.initial_final_rows(sec, initial, final)),
    )
    header, rows = agg.per_class_table(sec)
    if rows:
        doc.add(Heading("Per category (final, mean over seeds)", 3), Table(header, rows))
    diag = agg.diagnostics_rows(sec, final_diagnostics)
    if diag:
        doc.add(
            Heading("Detection diagnostics (final, %): mean ± std over seeds", 3),
            Table(["algo", "shots", *agg.DIAGNOSTICS, "n"], diag),
        )
    made = [p for p in (_final_plot(sec, out, final, initial), *_curves(sec, out)) if p is not None]
    if made:
        doc.add(Heading("Plots", 3), *[Img(p.name, p.stem) for p in made])
    return made


def _final_plot(sec: agg.Section, out: Path, final: agg.Value, initial: agg.Value) -> Path | None:
    points = {}
    for algo in sec.algos:
        stats = [(s, agg.stat(final(r) for r in sec.cell(algo, s))) for s in sec.shots]
        points[algo] = [(agg.shots_label(s), st.mean, st.std or 0.0) for s, st in stats if st]
    base = agg.stat(initial(r) for r in sec.runs)
    path = out / f"final_{sec.slug}.png"
    return plot_final_vs_shots(path, sec.title, sec.metric, points, base.mean if base else None)


def _curves(sec: agg.Section, out: Path) -> list[Path | None]:
    def curves(key_of) -> dict:
        return {
            f"{a} {agg.shots_label(s)}-shot": agg.mean_curve(
                agg.series(_metrics(r.dir), key_of(r)) for r in sec.cell(a, s)
            )
            for a in sec.algos
            for s in sec.shots
            if sec.cell(a, s)
        }

    return [
        plot_curves(
            out / f"reward_{sec.slug}.png",
            f"{sec.title}: train reward",
            REWARD_KEY,
            curves(lambda r: REWARD_KEY),
        ),
        plot_curves(
            out / f"loss_{sec.slug}.png", f"{sec.title}: train loss", LOSS_KEY, curves(lambda r: LOSS_KEY)
        ),
        plot_curves(
            out / f"metric_{sec.slug}.png",
            f"{sec.title}: held-out {sec.metric}",
            sec.metric,
            curves(lambda r: metric_key(r, sec.metric)),
        ),
    ]


def _problems(doc: Document, failed: list[Run], found: Found) -> None:
    if failed:
        doc.add(Heading("Failed runs (not averaged)", 2))
        doc.add(
            Table(
                ["run", "task", "algo", "shots", "seed", "status"],
                [
                    [
                        str(r.dir),
                        r.task,
                        r.algo,
                        agg.shots_label(r.shots),
                        str(r.seed),
                        r.status if r.status != "ok" else "ok, but no final value",
                    ]
                    for r in failed
                ],
            )
        )
    if found.incomplete:
        doc.add(Heading("Incomplete runs (no summary.json)", 2))
        doc.add(Table(["run"], [[str(p)] for p in found.incomplete]))
    if found.unreadable:
        doc.add(Heading("Unreadable summaries", 2))
        doc.add(Table(["problem"], [[msg] for _, msg in found.unreadable]))


def write_report(report: Report, out_dir: Path) -> list[Path]:
    """Write report.md and report.html into `out_dir`; return every file written (plots included)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, html = out_dir / "report.md", out_dir / "report.html"
    md.write_text(to_markdown(report.document), encoding="utf-8")
    html.write_text(to_html(report.document), encoding="utf-8")
    return [md, html, *report.plots]
