"""The same comparison as a W&B Report (wandb-workspaces `reports.v2`), for the W&B group(s) of the runs.

`build_wandb_report` turns the local report's document into report blocks (headings, text, tables as Markdown)
and adds, per section, a panel grid whose run set selects the section's runs by W&B group (and by run id where
the run folders hold one), grouped by algo, with reward and metric curves (mean ± std over seeds) and the final
metric as bars. Building needs no network; `save_wandb_report` needs a W&B login.
Left out: the local PNGs (the panels draw the same curves from the logged runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vrft.report.aggregate import Section
from vrft.report.build import REWARD_KEY, Report
from vrft.report.document import Heading, Para, Table, md_table
from vrft.report.runs import wandb_run_ids, wandb_settings

FINAL_KEY = "summary/final"  # what vrft.run logs at the end of a run


@dataclass(frozen=True)
class Target:
    project: str
    entity: str | None
    groups: tuple[str, ...]
    run_ids: tuple[str, ...]


def target_of(report: Report, project: str | None = None, entity: str | None = None) -> Target:
    """Project, entity, groups and run ids of the report's runs (from their .hydra/config.yaml and wandb/)."""
    settings = [wandb_settings(r.dir) for r in report.found.runs]
    pick = lambda key: next((s[key] for s in settings if s.get(key)), None)  # noqa: E731
    groups = tuple(dict.fromkeys(s["group"] for s in settings if s.get("group")))
    ids = tuple(dict.fromkeys(i for r in report.found.runs for i in wandb_run_ids(r.dir)))
    return Target(project or pick("project") or "vrft", entity or pick("entity"), groups, ids)


def runset_filter(target: Target, section: Section) -> str:
    """A wandb-workspaces filter expression selecting the section's runs."""
    parts = []
    if target.groups:
        parts.append("Metric('Group') in " + repr(list(target.groups)))
    if target.run_ids:
        parts.append("Metric('ID') in " + repr(list(target.run_ids)))
    parts.append(f"Config('task.name') == {section.task!r}")
    parts.append(f"Config('model.name') == {section.model!r}")
    return " and ".join(parts)


def _blocks(report: Report) -> list[Any]:
    import wandb_workspaces.reports.v2 as wr

    out = []
    for block in report.document.blocks:
        if isinstance(block, Heading):
            out.append((wr.H1, wr.H2, wr.H3)[min(block.level, 3) - 1](block.text))
        elif isinstance(block, Para):
            out.append(wr.P(block.text))
        elif isinstance(block, Table):
            out.append(wr.MarkdownBlock(md_table(block, links=False)))  # run folders: local paths
    return out


def _grid(target: Target, section: Section) -> Any:
    import wandb_workspaces.reports.v2 as wr

    runset = wr.Runset(
        entity=target.entity or "",
        project=target.project,
        name=section.title,
        filters=runset_filter(target, section),
        groupby=["config.algo.name", "config.task.shots"],
    )
    metric = f"val/{section.task}/{section.metric}"
    return wr.PanelGrid(
        runsets=[runset],
        panels=[
            wr.LinePlot(
                title="train reward",
                x="trainer/global_step",
                y=[REWARD_KEY],
                groupby_aggfunc="mean",
                groupby_rangefunc="stddev",
            ),
            wr.LinePlot(
                title=metric,
                x="trainer/global_step",
                y=[metric],
                groupby_aggfunc="mean",
                groupby_rangefunc="stddev",
            ),
            wr.BarPlot(
                title=f"final {section.metric}",
                metrics=[FINAL_KEY],
                groupby_aggfunc="mean",
                groupby_rangefunc="stddev",
            ),
        ],
    )


def build_wandb_report(report: Report, target: Target, title: str = "vrft comparison") -> Any:
    """A `wandb_workspaces.reports.v2.Report` (not saved). Without an entity it carries a placeholder one."""
    import wandb_workspaces.reports.v2 as wr

    blocks = _blocks(report) + [b for sec in report.sections for b in (wr.H2(sec.title), _grid(target, sec))]
    groups = ", ".join(target.groups) or "(no group recorded)"
    return wr.Report(
        project=target.project,
        entity=target.entity or "unknown-entity",
        title=title[:128],
        description=f"W&B group(s): {groups}. Built by `python -m vrft.report`.",
        blocks=blocks,
    )


def save_wandb_report(wandb_report: Any) -> str:
    """Save (needs a W&B login and the network) and return the report's URL."""
    wandb_report.save()
    return wandb_report.url
