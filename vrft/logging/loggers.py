"""The run's Lightning loggers from a `LoggerCfg`, and closing them so a multirun never leaks a W&B run.

`build_loggers` always returns a `JsonlLogger` (metrics.jsonl in the run folder) first, then per `cfg.kind`:
wandb -> Lightning's `WandbLogger` (mode auto: online with a login, else offline; written under the run folder,
named, grouped, tagged, with the resolved config), csv -> Lightning's `CSVLogger` (metrics.csv in the run folder),
none -> nothing more. `finish_loggers` closes them all and finishes W&B with exit code 1 on failure; calling it
twice is harmless. Left out: model/checkpoint upload to W&B (checkpoints stay in the run folder).
"""

from __future__ import annotations

import logging
import math
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger

from vrft.config import LoggerCfg
from vrft.logging.jsonl import JsonlLogger
from vrft.logging.wandb_env import point_wandb_dirs, resolve_mode
from vrft.registry import Registry

log = logging.getLogger(__name__)
OK_STATUSES = ("ok", "success", "finished")


def run_tags(task: str, shots: int | None, algo: str, model: str, seed: int) -> list[str]:
    """The W&B tags of a run: `task=...`, `shots=...` (`all` for null), `algo=...`, `model=...`, `seed=...`."""
    return [
        f"task={task}",
        f"shots={'all' if shots is None else shots}",
        f"algo={algo}",
        f"model={model}",
        f"seed={seed}",
    ]


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(str(t)[:64] for t in items if t))  # W&B caps a tag at 64 characters


def build_loggers(
    cfg: LoggerCfg,
    run_dir: Path,
    *,
    name: str,
    group: str | None,
    tags: list[str],
    config: dict,
) -> list[Logger]:
    """[JsonlLogger] + the logger `cfg.kind` names (`LOGGERS`); nothing is contacted until the first metric is
    logged."""
    run_dir = Path(run_dir)
    if cfg.kind not in LOGGERS:
        raise ValueError(f"logger.kind={cfg.kind!r} is invalid: must be one of {', '.join(LOGGERS)}")
    extra = LOGGERS[cfg.kind](cfg, run_dir, name=name, group=group, tags=tags, config=config)
    return [JsonlLogger(run_dir), *extra]


LOGGERS = Registry("logger")  # logger.kind -> fn(cfg, run_dir, name=, group=, tags=, config=) -> [Logger]


@LOGGERS.register("wandb")
def _wandb(cfg: LoggerCfg, run_dir: Path, *, name: str, group, tags, config) -> list[Logger]:
    mode = resolve_mode(cfg.mode)
    return [] if mode == "disabled" else [_wandb_logger(cfg, run_dir, mode, name, group, tags, config)]


@LOGGERS.register("csv")
def _csv(cfg: LoggerCfg, run_dir: Path, **_: Any) -> list[Logger]:
    return [_csv_logger(run_dir)]


@LOGGERS.register("none")
def _none(cfg: LoggerCfg, run_dir: Path, **_: Any) -> list[Logger]:
    return []


def _csv_logger(run_dir: Path) -> CSVLogger:
    """metrics.csv in the run folder. Created now, quietly: Lightning warns about any non-empty folder (the run
    folder always holds .hydra/) and would only replace an old metrics.csv, which a resumed run rewrites anyway."""
    logger = CSVLogger(save_dir=str(run_dir), name="", version="")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Experiment logs directory")
        _ = logger.experiment
    return logger


def _wandb_logger(
    cfg: LoggerCfg, run_dir: Path, mode: str, name: str, group: str | None, tags: list[str], config: dict
) -> WandbLogger:
    point_wandb_dirs(run_dir, mode)
    logger = WandbLogger(
        name=name,
        save_dir=str(run_dir),
        project=cfg.project,
        entity=cfg.entity,
        group=group or cfg.group,
        tags=_unique([*tags, *cfg.tags]),
        config=config,
        mode=mode,  # not offline=True: Lightning would set WANDB_MODE for the rest of the process
        log_model=False,
    )
    logger._wandb_init.pop("anonymous", None)  # Lightning passes None, which wandb >= 0.19 warns about
    return logger


def log_summary(loggers: Sequence[Logger], summary: Mapping[str, Any]) -> None:
    """Copy the run summary's scalars (and per-class finals as `per_class/<name>`) into each W&B run's summary."""
    flat: dict[str, Any] = {}
    for key, value in summary.items():
        if isinstance(value, (str, int, float, bool)) and not (
            isinstance(value, float) and math.isnan(value)
        ):
            flat[key] = value
    for cls, value in (summary.get("per_class_final") or {}).items():
        flat[f"per_class/{cls}"] = value
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.summary.update(flat)


def finish_loggers(loggers: Sequence[Logger], status: str) -> None:
    """Finalize every logger and finish W&B (exit code 0 for ok/success, else 1). Safe to call twice.

    Errors while closing are logged, never raised, so they cannot hide the error that ended the run."""
    ok = status in OK_STATUSES
    for logger in loggers:
        try:
            _finish_one(logger, ok)
        except Exception as err:  # closing must not mask the run's own outcome
            log.warning("closing logger %s failed: %s", type(logger).__name__, err)
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=0 if ok else 1)  # a run someone else started in this process


def _finish_one(logger: Logger, ok: bool) -> None:
    if getattr(logger, "_vrft_finished", False):
        return
    logger._vrft_finished = True  # type: ignore[attr-defined]
    logger.finalize("success" if ok else "failed")
    if isinstance(logger, WandbLogger) and logger._experiment is not None:
        logger._experiment.finish(exit_code=0 if ok else 1)
