"""Held-out evaluation inside the training loop, as a Lightning callback.

`PeriodicEval` runs the task's evaluator every N optimizer steps on rank 0 and logs `val/<task>/<metric>` (and
the metric's companions, e.g. AP50, and detection's diagnostics, e.g. `val/<task>/recall@50`). Left out: early
stopping on the validation metric.
"""

from __future__ import annotations

import lightning as L

from vrft.evaluation.diagnostics import flat_diagnostics


class PeriodicEval(L.Callback):
    def __init__(self, evaluator, *, every: int, task: str, metric: str):
        self.evaluator = evaluator
        self.every = every
        self.task = task
        self.metric = metric

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        step = trainer.global_step
        if step == 0 or step % self.every or step >= trainer.max_steps:
            return
        if trainer.is_global_zero:
            metrics = self.evaluator(pl_module.policy, f"step{step}")
            prefix = f"val/{self.task}"
            flat = {f"{prefix}/{k}": float(v) for k, v in metrics.items() if isinstance(v, int | float)}
            flat.update(flat_diagnostics(metrics.get("diagnostics") or {}, prefix))
            for lg in trainer.loggers:
                lg.log_metrics(flat, step=step)
