"""vrft.report on fake run folders: table numbers (mean ± std over seeds), failed runs listed and not averaged,
valid PNG plots, curves averaged over seeds, per-category table, the CLI, and the W&B report up to the object."""

from __future__ import annotations

import json
import statistics

import pytest
from PIL import Image

from vrft.report import aggregate as agg
from vrft.report import build_report, find_runs, load_run, write_report
from vrft.report.__main__ import main
from vrft.report.document import image_src
from vrft.report.wandb_report import build_wandb_report, runset_filter, target_of

TASK = "coco_fewshot"
FINALS = {  # (algo, shots) -> finals of seeds 0, 1, 2
    ("grpo", 1): [30.0, 34.0, 35.0],
    ("grpo", 4): [40.0, 41.0, 45.5],
    ("sft", 1): [19.0, 20.0, 22.0],
    ("sft", 4): [25.0, 26.0],
}
HYDRA_CFG = """task:\n  name: coco_fewshot\nlogger:\n  project: vrft-test\n  entity: team\n  group: ${task.name}-shots
paths:\n  output_dir: ${hydra:runtime.output_dir}\n"""


def make_run(root, algo, shots, seed, final, status="ok", task=TASK, wandb_id=None, val=None):
    run = root / f"algo={algo},task.shots={shots}" / f"seed={seed}"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(HYDRA_CFG)
    summary = {
        "task": task,
        "algo": algo,
        "model": "qwen2_vl_2b",
        "seed": seed,
        "shots": shots,
        "metric": "mAP",
        "initial": 10.0 + seed,
        "final": final,
        "steps": 3,
        "wall_time_s": 2.0,
        "per_class_initial": {"bus": 8.0, "cat": 12.0 + seed},
        "per_class_final": {"bus": final - 2, "cat": final + 2},
        "overrides": [f"algo={algo}", f"task.shots={shots}", f"seed={seed}"],
        "status": status,
    }
    (run / "summary.json").write_text(json.dumps(summary))
    lines = [{"step": s, "train/reward": 0.1 * s + seed, "train/loss": 1.0} for s in (1, 2, 3)]
    lines.append(
        {"step": 3, f"val/{task}/mAP": final, f"val/{task}/AP50": val if val is not None else final + 20}
    )
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"step": 4, "train/re')
    if wandb_id:
        (run / "wandb" / f"offline-run-20260101_000000-{wandb_id}").mkdir(parents=True)
    return run


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "sweep"
    for (algo, shots), finals in FINALS.items():
        for seed, final in enumerate(finals):
            make_run(root, algo, shots, seed, final, wandb_id=f"id{algo}{shots}{seed}")
    make_run(root, "sft", 4, 2, 999.0, status="failed")  # must be listed, never averaged
    (root / "broken").mkdir()
    (root / "broken" / "summary.json").write_text('{"task": 3}')
    (root / "killed" / ".hydra").mkdir(parents=True)
    return root


def cell_text(values):
    sd = f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else ""
    return f"{statistics.fmean(values):.1f}{sd} (n={len(values)})"


def test_find_runs_sorts_ok_failed_unreadable_incomplete(sweep):
    found = find_runs([sweep, sweep / "algo=grpo,task.shots=1"])  # the second folder is inside the first
    assert len(found.runs) == 12 and sum(not r.ok for r in found.runs) == 1
    assert [p.name for p in found.incomplete] == ["killed"]
    assert len(found.unreadable) == 1 and "'task'" in found.unreadable[0][1]


def test_report_table_numbers_and_failed_runs(sweep, tmp_path):
    report = build_report(find_runs([sweep]), tmp_path / "out")
    files = write_report(report, tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    lines = md.splitlines()
    start = lines.index("| shots | grpo | sft |")  # the final-metric table: shots x algo
    table = {}
    for line in lines[start + 2 : start + 2 + len({s for _, s in FINALS})]:
        shots, *cells = [c.strip() for c in line.strip("|").split("|")]
        table.update({(algo, int(shots)): cell for algo, cell in zip(("grpo", "sft"), cells, strict=True)})
    assert table == {key: cell_text(finals) for key, finals in FINALS.items()}
    assert "999" not in md.split("## Failed runs")[0]  # the failed run is not averaged ...
    failed = md.split("## Failed runs")[1]
    assert "sft" in failed and "failed" in failed and "seed=2" in failed  # ... but listed
    assert "killed" in md.split("## Incomplete runs")[1] and "## Unreadable summaries" in md
    assert files[:2] == [tmp_path / "out" / "report.md", tmp_path / "out" / "report.html"]


def test_initial_final_and_per_category(sweep, tmp_path):
    report = build_report(find_runs([sweep]), tmp_path)
    (section,) = report.sections
    rows = agg.initial_final_rows(section, lambda r: r.initial, lambda r: r.final)
    grpo4 = next(r for r in rows if r[:2] == ["grpo", "4"])
    final = statistics.fmean(FINALS["grpo", 4])
    assert grpo4 == ["grpo", "4", "11.0", f"{final:.1f}", f"{final - 11.0:+.1f}", "3"]
    header, table = agg.per_class_table(section)
    assert header == ["category", "initial", "grpo 1-shot", "grpo 4-shot", "sft 1-shot", "sft 4-shot"]
    cat = next(r for r in table if r[0] == "cat")
    initials = [12.0 + s for finals in FINALS.values() for s in range(len(finals))]
    assert cat[1] == f"{statistics.fmean(initials):.1f}"
    assert cat[5] == f"{statistics.fmean(FINALS['sft', 4]) + 2:.1f}"


def test_plots_are_valid_pngs_and_linked(sweep, tmp_path):
    report = build_report(find_runs([sweep]), tmp_path)
    files = write_report(report, tmp_path)
    pngs = [f for f in files if f.suffix == ".png"]
    # one axis per quantity: each algo's loss apart; no KL plot (these runs log none)
    assert {p.name.split("_")[0] for p in pngs} == {"final", "reward", "loss-grpo", "loss-sft", "metric"}
    for png in pngs:
        with Image.open(png) as img:
            img.verify()
            assert img.format == "PNG" and img.size[0] > 100
    html = (tmp_path / "report.html").read_text()
    md = (tmp_path / "report.md").read_text()
    for png in pngs:  # the HTML embeds each PNG, the Markdown links it
        assert f"src='{image_src(png.name, tmp_path)}'" in html and f"]({png.name})" in md
    assert "src='data:image/png;base64," in html and ".png'" not in html
    md_tables = sum(line.startswith("|---") for line in md.splitlines())
    assert html.count("<table>") == md_tables >= 5  # final, initial/final, per class, failed, unreadable, ...


def test_curves_are_means_over_seeds(sweep):
    runs = [r for r in find_runs([sweep]).runs if r.ok and r.algo == "grpo" and r.shots == 1]
    from vrft.report.runs import read_metrics

    steps, values = agg.mean_curve(agg.series(read_metrics(r.dir), "train/reward") for r in runs)
    assert steps == [1, 2, 3]  # the torn last line of each file is skipped
    assert values == pytest.approx([0.1 * s + 1.0 for s in steps])  # seeds 0, 1, 2 -> offset mean 1
    assert agg.mean_curve([{1: 1.0, 2: 3.0}, {2: 5.0}]) == ([1, 2], [1.0, 4.0])


def test_other_metric_from_metrics_jsonl(sweep, tmp_path):
    report = build_report(find_runs([sweep]), tmp_path, metric="AP50")
    (section,) = report.sections
    assert section.metric == "AP50"
    md = write_report(report, tmp_path)[0].read_text()
    assert cell_text([f + 20 for f in FINALS["grpo", 1]]) in md


def test_stat():
    assert agg.stat([]) is None and agg.stat([None, float("nan")]) is None
    assert agg.stat([2.0]) == agg.Stat(2.0, None, 1)
    s = agg.stat([1.0, 2.0, 6.0])
    assert (s.mean, s.n) == (3.0, 3) and s.std == pytest.approx(statistics.stdev([1, 2, 6]))


def test_load_run_names_the_bad_field(tmp_path):
    (tmp_path / "summary.json").write_text(
        json.dumps(
            {
                "task": "t",
                "algo": "a",
                "model": "m",
                "seed": "0",
                "metric": "mAP",
                "status": "ok",
                "final": 1.0,
            }
        )
    )
    with pytest.raises(Exception, match="'seed'"):
        load_run(tmp_path / "summary.json")


def test_cli_writes_report(sweep, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    out = tmp_path / "elsewhere"
    assert main([str(sweep), "--out", str(out)]) == 0
    assert (out / "report.md").exists() and (out / "report.html").exists() and list(out.glob("*.png"))
    assert "no W&B login" in capsys.readouterr().out
    assert main([str(sweep)]) == 0 and (sweep / "report.md").exists()  # default: into the first folder


@pytest.mark.parametrize("args", [["/nonexistent/folder"], ["{empty}"]])
def test_cli_bad_input_exits_2(tmp_path, capsys, args):
    (tmp_path / "empty").mkdir()
    assert main([a.format(empty=tmp_path / "empty") for a in args]) == 2
    assert capsys.readouterr().err.startswith("vrft.report: error:")


def test_wandb_report_object_offline(sweep, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    report = build_report(find_runs([sweep]), tmp_path)
    target = target_of(report)
    assert (target.project, target.entity, target.groups) == ("vrft-test", "team", ("coco_fewshot-shots",))
    assert len(target.run_ids) == 11 and "idgrpo10" in target.run_ids
    wr = build_wandb_report(report, target, title="shots sweep")
    assert (wr.project, wr.entity, wr.title) == ("vrft-test", "team", "shots sweep")
    kinds = [type(b).__name__ for b in wr.blocks]
    assert "PanelGrid" in kinds and "MarkdownBlock" in kinds and kinds.count("H2") >= 2
    grid = next(b for b in wr.blocks if type(b).__name__ == "PanelGrid")
    panels = {type(p).__name__: p for p in grid.panels}
    assert panels["LinePlot"].y and panels["BarPlot"].metrics == ["summary/final"]
    from wandb_workspaces import expr

    parsed = expr.expr_to_filters(runset_filter(target, report.sections[0]))
    keys = {(f.key.section, f.key.name): f.value for f in parsed.filters}
    assert keys[("run", "group")] == ["coco_fewshot-shots"] and keys[("config", "task.name")] == TASK
    assert set(keys[("run", "name")]) == set(target.run_ids)
    tables = [b.text for b in wr.blocks if type(b).__name__ == "MarkdownBlock"]
    assert any("| shots |" in t for t in tables)
    assert tables[0].startswith("| run |") and "](" not in tables[0]  # run folders as text: local paths


def test_cli_wandb_dry_run_and_online_save(sweep, tmp_path, capsys, monkeypatch):
    import vrft.report.wandb_report as wrep

    monkeypatch.setenv("WANDB_MODE", "offline")
    assert main([str(sweep), "--out", str(tmp_path), "--wandb-dry-run"]) == 0
    assert "saving needs a W&B login" in capsys.readouterr().out
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv(
        "WANDB_API_KEY", "k" * 40
    )  # "logged in": saving is replaced, nothing leaves the machine
    saved = []
    monkeypatch.setattr(wrep, "save_wandb_report", lambda r: saved.append(r) or "https://wandb.ai/team/r")
    assert main([str(sweep), "--out", str(tmp_path)]) == 0
    assert saved and saved[0].entity == "team" and "https://wandb.ai/team/r" in capsys.readouterr().out
    monkeypatch.setattr(wrep, "save_wandb_report", lambda r: (_ for _ in ()).throw(OSError("no network")))
    assert main([str(sweep), "--out", str(tmp_path)]) == 1


def test_band_is_mean_min_max_over_seeds_and_ema_smooths_without_start_bias():
    b = agg.band([{1: 1.0, 2: 2.0}, {1: 3.0, 2: 6.0}, {}], smoothing=0.5)
    assert (b.steps, b.mean, b.low, b.high, b.n) == ([1, 2], [2.0, 4.0], [1.0, 2.0], [3.0, 6.0], 2)
    assert b.smooth == pytest.approx([2.0, (0.25 * 2.0 + 0.5 * 4.0) / 0.75])  # debiased EMA
    assert agg.ema([5.0, 5.0, 5.0], 0.9) == pytest.approx([5.0] * 3) and agg.ema([1.0, 2.0], 0.0) == [
        1.0,
        2.0,
    ]
    with pytest.raises(ValueError):
        agg.ema([1.0], 1.0)


def test_runs_table_shows_the_config_keys_that_differ(sweep, tmp_path):
    from vrft.report.compare import differing_keys, run_rows

    assert differing_keys([{"a": 1, "paths.x": 1, "s": 2}, {"a": 1, "paths.x": 2, "s": 3}, {"a": 1}]) == ["s"]
    run = sweep / "algo=grpo,task.shots=1" / "seed=0"  # a typed config beats the overrides
    (run / "run_config.json").write_text(json.dumps({"algo": {"name": "grpo", "lr": 2e-5}, "seed": 0}))
    runs = find_runs([sweep]).runs
    header, rows, rest = run_rows(runs, sweep, lambda r: r.final if r.ok else None)
    assert header[:5] == ["run", "algo", "algo.lr", "algo.name", "seed"] and rest == []
    assert header[-6:] == ["task.shots", "status", "steps", "initial", "final", "Δ"]
    first = dict(zip(header, rows[0], strict=True))
    assert first["run"].href == "algo=grpo,task.shots=1/seed=0" and first["algo.lr"] == "2e-05"
    assert first["final"] == "30.0" and first["Δ"] == "+20.0" and first["algo"] == "–"
    failed = next(dict(zip(header, r, strict=True)) for r in rows if r[header.index("status")] == "failed")
    assert failed["final"] == "–"  # listed, never a number


def test_held_out_curve_runs_from_initial_to_final(sweep):
    from vrft.report.build import held_out

    run = next(
        r for r in find_runs([sweep]).runs if r.ok and r.algo == "grpo" and r.shots == 4 and r.seed == 1
    )
    assert held_out(run, "mAP") == {0: 11.0, 3: 41.0}  # initial at step 0; the final at the run's last step


def test_study_arms_are_columns_and_diagnostics_are_tabled(tmp_path):
    """Runs of `ablation=<arm>` (same algo and shots) form one column per arm; each arm's final detection
    diagnostics are averaged over seeds."""
    root = tmp_path / "ablation"
    finals = {"det_paper": [30.0, 32.0], "det_count": [40.0, 44.0]}
    for arm, values in finals.items():
        for seed, final in enumerate(values):
            run = make_run(root / arm, "synth_grpo", 4, seed, final)
            summary = json.loads((run / "summary.json").read_text())
            summary["overrides"] = [f"ablation={arm}", f"seed={seed}"]
            (run / "summary.json").write_text(json.dumps(summary))
            (run / "eval").mkdir()
            diag = {"precision@50": 50.0 + 10 * seed, "recall@50": 20.0, "ece": None, "rejection_rate": 80.0}
            (run / "eval" / "diagnostics_final.json").write_text(json.dumps(diag))
    report = build_report(find_runs([root]), tmp_path / "out")
    (sec,) = report.sections
    assert sec.algos == ["det_count", "det_paper"]
    md = write_report(report, tmp_path / "out")[0].read_text()
    assert f"| 4 | {cell_text([40.0, 44.0])} | {cell_text([30.0, 32.0])} |" in md
    rows = agg.diagnostics_rows(
        sec, lambda r: json.loads((r.dir / "eval" / "diagnostics_final.json").read_text())
    )
    assert rows[0] == ["det_count", "4", "55.0 ± 7.1", "20.0 ± 0.0", "–", "80.0 ± 0.0", "–", "–", "2"]
    assert "Detection diagnostics" in md and "55.0 ± 7.1" in md
