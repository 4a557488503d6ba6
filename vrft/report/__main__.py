"""`python -m vrft.report DIR [DIR ...] [--out OUT] [--metric NAME] [--smoothing W] [--wandb-dry-run] [--no-wandb]`.

Finds every summary.json below the folders, writes report.md, report.html (one file, plots embedded) and PNG plots
into OUT (default: the first DIR), and prints where. With a W&B login configured it also saves a W&B Report for the runs' group and
prints its URL; offline it builds that report only with --wandb-dry-run (saving needs a login).
Exit codes: 0 written; 1 the local report was written but saving the W&B report failed; 2 bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from vrft.errors import VrftError
from vrft.report.build import SMOOTHING


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m vrft.report",
        description="Compare runs: report.md, report.html and PNG plots from their summary.json and metrics.jsonl "
        "files; a W&B Report too when a W&B login is configured.",
    )
    p.add_argument("dirs", nargs="+", type=Path, help="sweep folders or run folders")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the first DIR)")
    p.add_argument("--metric", default=None, help="metric to compare (default: each run's headline metric)")
    p.add_argument(
        "--smoothing",
        type=float,
        default=SMOOTHING,
        help=f"EMA weight of the training curves, 0..<1 (default {SMOOTHING})",
    )
    p.add_argument("--title", default="vrft comparison", help="title of the W&B report")
    p.add_argument("--project", default=None, help="W&B project (default: from the runs' config, else vrft)")
    p.add_argument("--entity", default=None, help="W&B entity (default: from the runs' config / your login)")
    p.add_argument("--wandb-dry-run", action="store_true", help="build the W&B report object without saving")
    p.add_argument("--no-wandb", action="store_true", help="never build or save a W&B report")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from vrft.report.build import build_report, write_report
    from vrft.report.runs import find_runs

    try:
        found = find_runs(args.dirs)
        if not (found.runs or found.incomplete or found.unreadable):
            raise VrftError(
                f"no run folders (summary.json or .hydra/) below {', '.join(map(str, args.dirs))}"
            )
        out = args.out or args.dirs[0]
        if not 0.0 <= args.smoothing < 1.0:
            raise VrftError(f"--smoothing {args.smoothing}: must be in [0, 1)")
        report = build_report(found, out, args.metric, sources=args.dirs, smoothing=args.smoothing)
        files = write_report(report, out)
    except VrftError as err:
        print(f"vrft.report: error: {err}", file=sys.stderr)
        return 2
    print(f"vrft.report: {len(found.runs)} runs -> {files[0]} , {files[1]} (+{len(files) - 2} plots)")
    return 0 if args.no_wandb else publish(report, args)


def publish(report, args: argparse.Namespace) -> int:
    """Save the W&B report when a login is configured; build it only (--wandb-dry-run) otherwise."""
    from vrft.logging.wandb_env import resolve_mode

    online = resolve_mode("auto") == "online"
    if not report.sections:
        return 0
    if not (online or args.wandb_dry_run):
        print("vrft.report: no W&B login: no W&B report (--wandb-dry-run builds one without saving)")
        return 0
    from vrft.report.wandb_report import build_wandb_report, save_wandb_report, target_of

    target = target_of(report, args.project, args.entity)
    if not online or args.wandb_dry_run:
        wreport = build_wandb_report(report, target, args.title)
        print(
            f"vrft.report: W&B report built ({len(wreport.blocks)} blocks, project {target.project}, "
            f"groups {list(target.groups)}); not saved: "
            + ("--wandb-dry-run" if online else "saving needs a W&B login (wandb login)")
        )
        return 0
    try:
        if target.entity is None:
            import wandb

            target = dataclasses.replace(target, entity=wandb.Api().default_entity)
        url = save_wandb_report(build_wandb_report(report, target, args.title))
    except Exception as err:  # network or permission problems: the local report is already written
        print(f"vrft.report: W&B report not saved ({err}); the local report was written", file=sys.stderr)
        return 1
    print(f"vrft.report: W&B report: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
