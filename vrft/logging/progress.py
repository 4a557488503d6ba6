"""Training progress on the console: Lightning's progress bar on a terminal, a plain line every N steps otherwise.

`progress_display(cfg)` -> (enable_progress_bar, callbacks) for the Trainer, by `progress.mode`:
- "bar" ("auto" when stdout is a terminal): `StepBar`, Lightning's `TQDMProgressBar` counting optimizer steps out of
  `trainer.max_steps` (a resumed run starts at its step), with reward, KL and loss, seconds per step and the ETA;
- "lines" ("auto" otherwise: a log file, CI, a batch job): `StepLines` logs one line such as
  `step 20/300  reward 0.531  kl 0.00124  loss 0.0103  1.42 s/step  ETA 6m38s` at the first step, every
  `progress.every_n_steps` steps and the last (logger `vrft.progress`: the console and the run's log file);
- "off": nothing.
Left out: evaluation progress (vrft.evaluation logs a line per evaluation), other ranks than rank 0.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

from lightning.pytorch.callbacks import Callback, TQDMProgressBar
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger("vrft.progress")

MODES = ("auto", "bar", "lines", "off")
SHOWN = ("reward", "kl", "loss")  # train/<name>, where the algorithm logs it (SFT: loss only)


def progress_display(cfg, tty: bool | None = None) -> tuple[bool, list[Callback]]:
    """(enable_progress_bar, callbacks) for `cfg` (a `ProgressCfg`); `tty`: whether stdout is a terminal."""
    mode = cfg.mode
    if mode == "auto":
        mode = "bar" if (sys.stdout.isatty() if tty is None else tty) else "lines"
    if mode == "bar":
        return True, [StepBar()]
    if mode == "lines":
        return False, [StepLines(cfg.every_n_steps)]
    return False, []


def shown_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The `SHOWN` training metrics present in `metrics` (Lightning's callback_metrics), as floats."""
    return {k: float(metrics[f"train/{k}"]) for k in SHOWN if f"train/{k}" in metrics}


def duration(seconds: float) -> str:
    """`45s`, `6m38s`, `2h05m`."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def progress_line(step: int, max_steps: int, metrics: Mapping[str, float], s_per_step: float) -> str:
    """One progress line: step / max steps, the metrics, seconds per step and the time left at that pace."""
    parts = [f"step {step}/{max_steps}", *(f"{k} {v:.4g}" for k, v in metrics.items())]
    parts.append(f"{s_per_step:.2f} s/step")
    if max_steps > step:
        parts.append(f"ETA {duration((max_steps - step) * s_per_step)}")
    return "  ".join(parts)


class StepLines(Callback):
    """A `progress_line` at the first step, every `every` steps and the last; the pace is that since the previous
    line, so the first step's one-off costs (compilation, warm-up) leave the later ETAs."""

    def __init__(self, every: int):
        self.every = max(int(every), 1)
        self._mark: tuple[float, int] = (0.0, 0)  # (time, step) of the previous line, or of the start
        self._first = 1  # this life's first step (a resumed run starts after its checkpoint)

    def on_train_start(self, trainer, pl_module) -> None:
        self._mark, self._first = (time.perf_counter(), trainer.global_step), trainer.global_step + 1

    def due(self, step: int, end: int) -> bool:
        return step > self._mark[1] and (step == self._first or step % self.every == 0 or step == end)

    @rank_zero_only
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step, end = trainer.global_step, trainer.max_steps
        if not self.due(step, end):
            return
        now = time.perf_counter()
        pace = (now - self._mark[0]) / max(step - self._mark[1], 1)
        self._mark = (now, step)
        log.info("%s", progress_line(step, end, shown_metrics(trainer.callback_metrics), pace))


class StepBar(TQDMProgressBar):
    """Lightning's progress bar over optimizer steps (the training data is one endless epoch), showing `SHOWN`."""

    BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_inv_fmt}{postfix}]"

    def on_train_epoch_start(self, trainer, *_: Any) -> None:
        bar = self.train_progress_bar
        if bar.total == trainer.max_steps:  # a later epoch of the same run: keep counting
            return
        bar.reset(total=trainer.max_steps)
        bar.initial = bar.n = trainer.global_step  # a resumed run: the pace counts this life's steps only
        bar.unit = "step"
        bar.set_description("train")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        bar = self.train_progress_bar
        if bar is not None and not bar.disable:
            bar.n = trainer.global_step
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
            bar.refresh()

    def get_metrics(self, trainer, pl_module) -> dict[str, float]:
        return shown_metrics(trainer.callback_metrics)
