"""Build the comparison report from run folders and write report.md, report.html and the PNG plots.

First a per-run table (the config keys that differ between runs, status, steps, initial and final headline metric,
a link to each run folder: `vrft.report.compare`). Then per (task, model, metric) section: the headline metric by
shots x algo (mean ± std over seeds, n), a plot of it, initial vs final, and one plot per quantity, never two
quantities on one axis: the held-out metric over steps (initial evaluation at step 0, in-loop ones, the final one),
train reward, KL, and the loss of each algo apart (GRPO's and SFT's losses are not comparable), each group
(algo, shots) drawn as its smoothed mean over seeds with a min-max band; then the per-category table from
`per_class_final`, and for detection the diagnostics of `eval/diagnostics_final.json`. A study's arms
(`ablation=NAME`) are columns of their own in place of the algo. Failed, unreadable and incomplete runs are listed, never averaged.
Left out: runs without a summary.json beyond listing them (their metrics.jsonl may be partial).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

from vrft.report import aggregate as agg
from vrft.report.compare import run_rows
from vrft.report.document import Document, Heading, Img, Para, Table, to_html, to_markdown
from vrft.report.plots import colours, plot_bands, plot_final_vs_shots
from vrft.report.runs import Found, Run, read_metrics

REWARD_KEY = "train/reward"
LOSS_KEY = "train/loss"
KL_KEY = "train/kl"
SMOOTHING = 0.6  # EMA weight of the curves' solid line (W&B's and TensorBoard's default)


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


def build_report(
    found: Found,
    out_dir: Path,
    metric: str | None = None,
    sources: list[Path] = (),
    smoothing: float = SMOOTHING,
) -> Report:
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
    _runs_table(doc, found.runs, Path(out_dir))
    secs = agg.sections(found.runs, metric)
    colour = colours(list(dict.fromkeys(label for sec in secs for label, _ in groups(sec))))
    plots: list[Path] = []
    for section in secs:
        plots += _section(doc, section, Path(out_dir), colour, smoothing)
    _problems(doc, failed, found)
    return Report(doc, found, secs, plots)


def _runs_table(doc: Document, runs: list[Run], out: Path) -> None:
    if not runs:
        return
    header, rows, rest = run_rows(runs, out, lambda r: final_value(r, r.metric) if r.ok else None)
    doc.add(
        Heading("Runs", 2),
        Para(
            "One row per run: the config keys that differ between the runs, the "
            "headline metric on the held-out split before (initial) and after training (final), and the run folder."
        ),
    )
    doc.add(Table(header, rows))
    if rest:
        doc.add(Para(f"Other config keys that differ between the runs: {', '.join(rest)}."))


def groups(sec: agg.Section) -> list[tuple[str, list[Run]]]:
    """(label, runs) per (algo, shots) cell of the section that has runs: the curves' groups."""
    return [
        (f"{a} {agg.shots_label(s)}-shot", sec.cell(a, s))
        for a in sec.algos
        for s in sec.shots
        if sec.cell(a, s)
    ]


def _section(doc: Document, sec: agg.Section, out: Path, colour: dict, smoothing: float) -> list[Path]:
    final = partial(final_value, metric=sec.metric)
    initial = partial(initial_value, metric=sec.metric)
    doc.add(
        Heading(sec.title, 2),
        Heading(f"{sec.metric} (final, %) by shots × algo: mean ± std over seeds (n)", 3),
        Table(["shots", *sec.algos], agg.final_table(sec, final)),
        Heading("Initial vs final (means over seeds)", 3),
        Table(["algo", "shots", "initial", "final", "Δ", "n"], agg.initial_final_rows(sec, initial, final)),
    )
    made = [p for p in (_final_plot(sec, out, final, initial), *_curves(sec, out, colour, smoothing)) if p]
    if made:
        doc.add(
            Heading("Plots", 3),
            Para(
                f"Curves: per group the mean over seeds smoothed (EMA weight {smoothing}) as the solid line, the "
                "raw mean faint, the lowest to highest seed shaded; the held-out curve, not smoothed (a few "
                "evaluations), runs from the initial evaluation (step 0) to the final one."
            ),
            *[Img(p.name, p.stem) for p in made],
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
    return made


def _final_plot(sec: agg.Section, out: Path, final: agg.Value, initial: agg.Value) -> Path | None:
    points = {}
    for algo in sec.algos:
        stats = [(s, agg.stat(final(r) for r in sec.cell(algo, s))) for s in sec.shots]
        points[algo] = [(agg.shots_label(s), st.mean, st.std or 0.0) for s, st in stats if st]
    base = agg.stat(initial(r) for r in sec.runs)
    path = out / f"final_{sec.slug}.png"
    return plot_final_vs_shots(path, sec.title, sec.metric, points, base.mean if base else None)


def held_out(run: Run, metric: str) -> dict[int, float]:
    """{step: value} of the held-out metric: the initial evaluation at 0, in-loop ones, the final at the last step."""
    out = {0: v} if (v := initial_value(run, metric)) is not None else {}
    out.update(agg.series(_metrics(run.dir), metric_key(run, metric)))
    if (v := final_value(run, metric)) is not None:
        out[run.steps] = v
    return out


def _curves(sec: agg.Section, out: Path, colour: dict, smoothing: float) -> list[Path | None]:
    def bands(values, algo: str | None = None, smooth: float = smoothing) -> dict[str, agg.Band]:
        return {
            label: agg.band((values(r) for r in runs), smooth)
            for label, runs in groups(sec)
            if algo is None or runs[0].algo == algo
        }

    def metric_series(key: str):
        return lambda r: agg.series(_metrics(r.dir), key)

    title = f"{sec.task} · {sec.model}"
    made = [
        plot_bands(
            out / f"metric_{sec.slug}.png",
            f"{title}: held-out {sec.metric}",
            sec.metric,
            bands(lambda r: held_out(r, sec.metric), smooth=0.0),  # a few evaluations: smoothing would lag
            colour,
        ),
        plot_bands(
            out / f"reward_{sec.slug}.png",
            f"{title}: train reward",
            REWARD_KEY,
            bands(metric_series(REWARD_KEY)),
            colour,
        ),
        plot_bands(
            out / f"kl_{sec.slug}.png",
            f"{title}: KL to the reference",
            KL_KEY,
            bands(metric_series(KL_KEY)),
            colour,
        ),
    ]
    for algo in sec.algos:  # each algo's loss on its own axis
        made.append(
            plot_bands(
                out / f"loss-{algo}_{sec.slug}.png",
                f"{title}: {algo} loss",
                f"{LOSS_KEY} ({algo})",
                bands(metric_series(LOSS_KEY), algo),
                colour,
            )
        )
    return made


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
    html.write_text(to_html(report.document, base=out_dir), encoding="utf-8")
    return [md, html, *report.plots]
