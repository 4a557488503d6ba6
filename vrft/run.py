"""The run: assemble (vrft.assemble), evaluate, fit, evaluate, save.

`run(cfg)` -> process settings -> seed -> assemble (policy, task data, evaluator) -> loggers -> evaluation before
-> Lightning fit (GRPO or SFT) -> evaluation after (detection diagnostics of both logged as
`eval/<initial|final>/<name>`) -> final model (Hugging Face format) and `summary.json` in the run folder. A failure
still writes `summary.json` with status "failed" and closes the loggers; Ctrl-C or SIGTERM stops after the step in progress
with a checkpoint, status "interrupted", the steps done and the resume command (raising `Interrupted`). Left out: mixing tasks; evaluation-only runs (see
`python -m vrft.evaluate`).
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from vrft.assemble import assemble
from vrft.checkpointing.callbacks import kept_line
from vrft.checkpointing.disk import save_final
from vrft.checkpointing.layout import checkpoint_root, latest_checkpoint, resume_point
from vrft.checkpointing.run_config import keep_or_check
from vrft.config import RunCfg
from vrft.evaluation.diagnostics import flat_diagnostics
from vrft.logging import build_loggers, finish_loggers, log_summary, run_tags
from vrft.logging.console import quiet_console
from vrft.runtime import after_torch
from vrft.runtime.cpu_isa import cpu_capability
from vrft.runtime.signals import Interrupted, StopOnSignal

log = logging.getLogger(__name__)


def run(cfg: RunCfg) -> dict:
    start = time.perf_counter()
    quiet_console()  # Lightning and transformers are loaded now: their own handlers and bars (vrft.logging.console)
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    resume = resume_point(run_dir, cfg.resume)  # before loading anything: a wrong run folder fails fast
    keep_or_check(  # the first life's config is kept; a resume that changes results is refused
        run_dir,
        config_dict(cfg),
        resume.step if resume else None,
        cfg.resume_allow,
        writer=rank_zero_only.rank == 0,
    )
    process = after_torch(cfg.runtime)  # threads and the kept heap (vrft.runtime)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    parts = assemble(cfg)  # policy, task data and evaluator (the synthetic base model built first if needed)
    task = parts.task
    loggers = build_loggers(
        cfg.logger,
        run_dir,
        name=run_name(cfg),
        group=cfg.logger.group,
        tags=tags(cfg),
        config=config_dict(cfg),
    )
    summary = base_summary(cfg, task)
    summary.update(process)  # keep_heap, omp_wait_policy (ACTIVE with runtime.omp_spin)
    with StopOnSignal() as stop:  # Ctrl-C / SIGTERM: stop after the step in progress (vrft.runtime.signals)
        try:
            train_and_evaluate(cfg, parts, loggers, resume, summary, stop)
        except BaseException:
            summary["status"] = "failed" if stop.signum is None else "interrupted"
            write_summary(run_dir, summary, start)
            finish_loggers(loggers, summary["status"])
            if stop.signum is None:
                raise
            log_resume(cfg, run_dir, summary)
            raise Interrupted(stop.signum) from None
    write_summary(run_dir, summary, start)
    for lg in loggers:
        lg.log_metrics(
            {f"summary/{k}": v for k, v in summary.items() if isinstance(v, int | float)},
            step=summary["steps"],
        )
    log_summary(loggers, summary)
    finish_loggers(loggers, "ok")
    log.info(
        "%s: %s %s -> %s (run folder %s)",
        task.name,
        task.metric,
        summary.get("initial"),
        summary["final"],
        run_dir,
    )
    return summary


def train_and_evaluate(cfg: RunCfg, parts, loggers: list, resume, summary: dict, stop: StopOnSignal) -> None:
    """Evaluate, fit, evaluate and save, filling `summary`; a signal ends it with `Interrupted`."""
    task, data, evaluator, run_dir = parts.task, parts.data, parts.evaluator, Path(cfg.paths.output_dir)
    if resume is not None:  # the first life of this run evaluated the starting model
        initial = earlier_metrics(run_dir, "initial")
    else:
        initial = evaluator(parts.policy, "initial") if cfg.eval.before else None
    summary.update(initial=headline(initial, task.metric), per_class_initial=per_class(initial))
    summary.update(group_means(per_class(initial), task, "initial"))
    module = parts.module(loggers)
    trainer = parts.trainer(loggers, resume_from=resume, stop=stop)
    start_step = resume.step if resume else 0  # the data stream continues where the checkpoint left it
    try:
        trainer.fit(module, datamodule=parts.datamodule(start_step))
    finally:
        summary["steps"] = int(trainer.global_step)
    if stop.signum is not None:
        raise Interrupted(stop.signum)
    final = evaluator(module.policy, "final")
    log_diagnostics(loggers, {"initial": initial, "final": final}, int(trainer.global_step))
    summary.update(
        final=headline(final, task.metric),
        per_class_final=per_class(final),
        **group_means(per_class(final), task, "final"),
        steps=int(trainer.global_step),
        skipped_steps=module.skipped_steps,
        status="ok",
        skipped_records=data.skipped,
        resumed_from=resume.step if resume else None,
    )
    if cfg.save_final_model:  # the end-of-training checkpoint holds the trained weights
        kept = kept_line(checkpoint_root(run_dir))
        save_final(module.policy, parts.processor, run_dir / "final_model", kept)


def log_resume(cfg: RunCfg, run_dir: Path, summary: dict) -> None:
    """Print where an interrupted run stopped and the command that continues it (kept in summary.json too)."""
    last = latest_checkpoint(checkpoint_root(run_dir))
    overrides = [o for o in summary.get("overrides", []) if not o.startswith(("resume=", "hydra.run.dir="))]
    command = shlex.join(["python", "-m", "vrft", *overrides, "resume=true", f"hydra.run.dir={run_dir}"])
    where = f"checkpoint {last.path} (step {last.step})" if last else "no checkpoint was written"
    summary.update(checkpoint=str(last.path) if last else None, resume_command=command if last else None)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(f"vrft: interrupted after {summary['steps']} steps; {where}", file=sys.stderr)
    if last:
        print(f"vrft: resume with: {command}", file=sys.stderr)


def headline(metrics: dict | None, name: str) -> float | None:
    return None if metrics is None else float(metrics[name])


def earlier_metrics(run_dir: Path, tag: str) -> dict | None:
    """The metrics (and detection diagnostics) an earlier life of this run folder wrote for `tag` (None if it did
    not evaluate)."""
    path, diag = run_dir / "eval" / f"metrics_{tag}.json", run_dir / "eval" / f"diagnostics_{tag}.json"
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text())
    if diag.is_file():
        metrics["diagnostics"] = json.loads(diag.read_text())
    return metrics


def log_diagnostics(loggers: list, evals: dict[str, dict | None], step: int) -> None:
    """Log each evaluation's detection diagnostics as `eval/<tag>/<name>` (vrft.evaluation.diagnostics)."""
    flat: dict[str, float] = {}
    for tag, metrics in evals.items():
        if metrics and metrics.get("diagnostics"):
            flat.update(flat_diagnostics(metrics["diagnostics"], f"eval/{tag}"))
    if flat:
        for lg in loggers:
            lg.log_metrics(flat, step=step)


def per_class(metrics: dict | None) -> dict | None:
    return None if metrics is None else metrics.get("per_class")


def group_means(classes: dict | None, task, tag: str) -> dict:
    """`{"novel_<tag>": mean, "base_<tag>": mean}` of the per-class metric over a synthetic world's novel
    classes and the others (both present), so a gain on the novel classes and a loss on the base ones both
    show; empty otherwise."""
    novel = set((task.synthetic or {}).get("novel") or ())
    if not classes or not novel:
        return {}
    groups = {"novel": [v for k, v in classes.items() if k in novel]}
    groups["base"] = [v for k, v in classes.items() if k not in novel]
    if not all(groups.values()):
        return {}
    return {f"{g}_{tag}": sum(v) / len(v) for g, v in groups.items()}


def run_name(cfg: RunCfg) -> str:
    shots = f"{cfg.task.shots}shot" if cfg.task.shots else "full"
    return f"{cfg.task.name}-{shots}-{cfg.algo.name}-{cfg.model.name}-s{cfg.seed}"


def tags(cfg: RunCfg) -> list[str]:
    return [
        *run_tags(cfg.task.name, cfg.task.shots, cfg.algo.name, cfg.model.name, cfg.seed),
        *cfg.logger.tags,
    ]


def config_dict(cfg: RunCfg) -> dict:
    from dataclasses import asdict

    return asdict(cfg)


def base_summary(cfg: RunCfg, task) -> dict:
    return {
        "task": task.name,
        "algo": cfg.algo.name,
        "model": cfg.model.name,
        "seed": cfg.seed,
        "shots": task.shots,
        "metric": task.metric,
        "initial": None,
        "final": None,
        "steps": 0,
        "per_class_initial": None,
        "per_class_final": None,
        "status": "running",
        "cpu_isa": cfg.runtime.cpu_isa,
        "cpu_capability": cpu_capability(),  # the kernels torch runs (AVX2 when runtime.cpu_isa=avx2 applied)
        "num_threads": torch.get_num_threads(),
    }


def write_summary(run_dir: Path, summary: dict, start: float) -> None:
    summary["wall_time_s"] = round(time.perf_counter() - start, 2)
    overrides = run_dir / ".hydra" / "overrides.yaml"
    if overrides.exists():
        summary["overrides"] = [
            ln[2:].strip() for ln in overrides.read_text().splitlines() if ln.startswith("- ")
        ]
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
