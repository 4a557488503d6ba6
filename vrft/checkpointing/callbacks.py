"""The Lightning callback that checkpoints a run, resumes it, and stops it when steps keep failing.

`Checkpointer` writes a checkpoint every `every` optimizer steps, after the step in progress when `stop`
(`vrft.runtime.signals.StopOnSignal`) saw SIGINT or SIGTERM (and then ends the fit), and at the end of training (`vrft.checkpointing.layout`
does the atomic write, `vrft.checkpointing.state` the contents). With `resume_from` it restores weights,
optimizer, scheduler, RNG states, skip counters and Lightning's global step in `on_train_start`: after the
DataLoader iterator exists (its creation draws from torch's generator) and before the first training step, so
the resumed run draws the same numbers as an uninterrupted one. A full disk or any other write error stops the
run with a `CheckpointError` naming the folder and the last complete checkpoint. After `max_consecutive_skips`
steps in a row were skipped (non-finite loss or gradient, counted by `PolicyModule.guarded_step`) it stops the
run with a `DivergedError`, before writing anything. Left out: asynchronous writes, and the data-stream offset
(the datamodule is built with `start_step`, see `vrft.run`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L

from vrft.checkpointing.disk import WRITE_ERRORS, write_failure
from vrft.checkpointing.layout import Checkpoint, latest_checkpoint, write_checkpoint
from vrft.checkpointing.state import Counters, restore, writers
from vrft.errors import DivergedError
from vrft.runtime.signals import StopOnSignal

log = logging.getLogger(__name__)


class Checkpointer(L.Callback):
    def __init__(
        self,
        root: Path | str,
        *,
        every: int = 0,
        keep: int = 2,
        max_consecutive_skips: int = 10,
        resume_from: Checkpoint | None = None,
        stop: StopOnSignal | None = None,
    ):
        self.root = Path(root)
        self.every = every
        self.keep = keep
        self.max_consecutive_skips = max_consecutive_skips
        self.resume_from = resume_from
        self.last_saved: int | None = None
        self.stop = stop

    def on_train_start(self, trainer: L.Trainer, pl_module) -> None:
        if self.stop is not None:
            self.stop.training = True  # a signal from now on stops after the step in progress
        if self.resume_from is None:
            return
        opt, sched = trainer.optimizers[0], trainer.lr_scheduler_configs[0].scheduler
        counters = restore(self.resume_from.path, pl_module.policy, opt, sched)
        pl_module.skipped_steps = counters.skipped_steps
        pl_module.consecutive_skips = counters.consecutive_skips
        set_global_step(trainer, counters.global_step)
        self.last_saved = counters.global_step
        log.info("resumed from %s (step %d)", self.resume_from.path, counters.global_step)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.check_skips(trainer, pl_module)
        step = trainer.global_step
        stopping = self.stop is not None and self.stop.signum is not None
        if (stopping or (self.every > 0 and step % self.every == 0)) and step != self.last_saved:
            self.save(trainer, pl_module)
        if stopping:
            trainer.should_stop = True

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        if self.stop is not None:
            self.stop.training = False
        if trainer.global_step != self.last_saved:
            self.save(trainer, pl_module)

    def check_skips(self, trainer: L.Trainer, pl_module) -> None:
        limit, run = self.max_consecutive_skips, pl_module.consecutive_skips
        if limit > 0 and run >= limit:
            last = latest_checkpoint(self.root)
            keep = (
                f"the last checkpoint is {last.path} (resume=true continues from it)"
                if last
                else "no checkpoint was written"
            )
            raise DivergedError(
                f"training stopped at step {trainer.global_step}: {run} consecutive steps had a "
                f"non-finite reward, loss or gradient (trainer.max_consecutive_skips={limit}); "
                f"{keep}"
            )

    def save(self, trainer: L.Trainer, pl_module) -> None:
        step = trainer.global_step
        if trainer.is_global_zero:
            counters = Counters(step, pl_module.skipped_steps, pl_module.consecutive_skips)
            files = writers(
                pl_module.policy, trainer.optimizers[0], trainer.lr_scheduler_configs[0].scheduler, counters
            )
            try:
                ckpt = write_checkpoint(self.root, step, files, keep=self.keep)
            except WRITE_ERRORS as err:  # a full disk: OSError, torch's RuntimeError, SafetensorError
                raise write_failure(f"checkpoint step {step}", self.root, err, kept_line(self.root)) from None
            log.info("checkpoint %s", ckpt.path)
        trainer.strategy.barrier("vrft-checkpoint")
        self.last_saved = step


def kept_line(root: Path) -> str:
    """What survives a failed write: the newest complete checkpoint under `root`, or that there is none."""
    last = latest_checkpoint(root)
    return f"the last complete checkpoint is {last.path}" if last else "no complete checkpoint exists"


def set_global_step(trainer: L.Trainer, step: int) -> None:
    """Make Lightning count `step` optimizer steps done (so `max_steps` and logging steps continue from it)."""
    loop = trainer.fit_loop.epoch_loop
    if trainer.lightning_module.automatic_optimization:
        progress = loop.automatic_optimization.optim_progress.optimizer.step
    else:
        progress = loop.manual_optimization.optim_step_progress
    progress.total.ready = progress.total.completed = step
    loop._batches_that_stepped = step
