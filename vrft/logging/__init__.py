"""Run logging: metrics.jsonl always, plus W&B (offline without a login) or CSV; rollout sample tables for W&B.

Public API: `build_loggers`, `finish_loggers`, `log_summary`, `log_samples`, `SampleLogger`, `run_tags`, `JsonlLogger`,
`resolve_mode`, `login_configured`. Names load on first use, so `vrft.report` can read the W&B login rule
without importing Lightning. The console has its own modules: `vrft.logging.console` (each line once, no
third-party noise) and `vrft.logging.progress` (the training progress bar or lines). Left out: evaluation progress.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "build_loggers": "vrft.logging.loggers",
    "finish_loggers": "vrft.logging.loggers",
    "log_summary": "vrft.logging.loggers",
    "run_tags": "vrft.logging.loggers",
    "log_samples": "vrft.logging.samples",
    "draw_boxes": "vrft.logging.samples",
    "SampleLogger": "vrft.logging.sample_logger",
    "JsonlLogger": "vrft.logging.jsonl",
    "resolve_mode": "vrft.logging.wandb_env",
    "login_configured": "vrft.logging.wandb_env",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vrft.logging' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
