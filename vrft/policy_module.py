"""What the GRPO and SFT LightningModules share: the policy, its optimizer and schedule, and the guarded step.

The optimizer is AdamW over trainable parameters with the algo's betas, eps and weight decay (torch's fused kernel
with `algo.adam_fused`, as HF's default `adamw_torch_fused`); the schedule is
linear decay to 0 over `max_steps` after `warmup_steps` (HF Trainer's default, used by the paper), or constant or
cosine. `guarded_step` clips, checks every gradient is finite and skips (and counts) a step that is not, so a NaN
never reaches the weights. Under several processes every skip decision is agreed across ranks (`all_ranks`, one
boolean all-reduce): a rank that skipped its backward alone would leave the others waiting forever in DDP's gradient
all-reduce. Left out: optimizers other than AdamW, layer-wise learning rates.
"""

from __future__ import annotations

import logging
import math

import lightning as L
import torch

from vrft.config import AlgoCfg
from vrft.registry import Registry

log = logging.getLogger(__name__)


SCHEDULES = Registry("lr schedule")


@SCHEDULES.register("linear")
def linear_decay(progress: float) -> float:
    """Linear decay to 0 (HF Trainer's default, used by the paper)."""
    return max(0.0, 1.0 - progress)


@SCHEDULES.register("constant")
def constant(progress: float) -> float:
    return 1.0


@SCHEDULES.register("cosine")
def cosine_decay(progress: float) -> float:
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


def lr_lambda(schedule: str, warmup: int, total: int):
    """Multiplier of the base lr at optimizer step `s` (0-based), as HF's get_*_schedule_with_warmup: a linear
    warm-up, then the schedule's decay over the remaining steps' progress in [0, 1]."""
    decay = SCHEDULES.get(schedule)

    def fn(s: int) -> float:
        if s < warmup:
            return (s + 1) / max(1, warmup)
        return decay((s - warmup) / max(1, total - warmup))

    return fn


class PolicyModule(L.LightningModule):
    """A policy under manual optimization: subclasses compute losses and call `guarded_step`."""

    def __init__(self, policy: torch.nn.Module, algo: AlgoCfg, max_steps: int):
        super().__init__()
        self.automatic_optimization = False
        self.policy = policy
        self.algo = algo
        self.max_steps = max(1, max_steps)
        self.skipped_steps = 0
        self.consecutive_skips = 0

    def configure_optimizers(self):
        params = [p for p in self.policy.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(
            params,
            lr=self.algo.lr,
            betas=tuple(self.algo.adam_betas),
            eps=self.algo.adam_eps,
            weight_decay=self.algo.weight_decay,
            fused=self.algo.adam_fused or None,  # None: torch's own pick (foreach)
        )
        fn = lr_lambda(self.algo.lr_schedule, self.algo.warmup_steps, self.max_steps)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, fn)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def finite_everywhere(self, loss: torch.Tensor) -> bool:
        """Whether `loss` is finite on every rank; call it on every rank before each backward."""
        return self.all_ranks(bool(torch.isfinite(loss)))

    def all_ranks(self, decision: bool) -> bool:
        """True when `decision` holds on every rank (one boolean all-reduce; the value itself in one process)."""
        trainer = self._trainer
        return (
            trainer.strategy.reduce_boolean_decision(decision, all=True) if trainer is not None else decision
        )

    def guarded_step(self, loss_finite: bool) -> dict[str, float]:
        """Clip, then step when loss and every gradient are finite; else drop the gradients and count a skip."""
        opt = self.optimizers()
        sched = self.lr_schedulers()
        params = [p for p in self.policy.parameters() if p.requires_grad]
        grads = [p.grad for p in params if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, self.algo.grad_clip) if grads else torch.tensor(0.0)
        ok = self.all_ranks(loss_finite and bool(torch.isfinite(norm)))
        lr = opt.param_groups[0]["lr"]
        if ok:
            opt.step()
            self.consecutive_skips = 0
        else:
            self.skipped_steps += 1
            self.consecutive_skips += 1
            log.warning(
                "step %d skipped: non-finite loss or gradient (%d in a row, %d in all)",
                self.global_step + 1,
                self.consecutive_skips,
                self.skipped_steps,
            )
            # Lightning counts optimizer steps through opt.step(); a skipped step still advances the schedule and
            # the step counter so runs keep their length.
            opt.optimizer.zero_grad(set_to_none=True)
            opt.step()
        opt.zero_grad(set_to_none=True)
        sched.step()
        return {
            "grad_norm": float(norm) if ok else float("nan"),
            "lr": lr,
            "skipped_steps": float(self.skipped_steps),
        }
