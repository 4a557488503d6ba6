"""Comparison reports of runs: a local Markdown/HTML report with PNG plots, and a W&B Report when online.

`python -m vrft.report SWEEP_OR_RUN_DIRS...` (see `vrft.report.__main__`). Library use: `find_runs(dirs)` ->
`build_report(found, out_dir)` -> `write_report(report, out_dir)`; `build_wandb_report` for W&B.
Inputs are only the files runs write (summary.json, metrics.jsonl, .hydra/config.yaml), so it works offline.
Left out: statistics beyond mean ± std over seeds.
"""

from vrft.report.build import Report, build_report, write_report
from vrft.report.runs import Found, Run, find_runs, load_run

__all__ = ["Found", "Report", "Run", "build_report", "find_runs", "load_run", "write_report"]
