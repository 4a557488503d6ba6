"""The GRPO LightningModule: rollout, rewards, group advantages, policy loss, guarded update.

One `training_step` receives one optimizer step's prompts, already split into micro-batches by the collator, and
reads top to bottom: rollout -> score -> advantages -> (dynamic sampling) -> old/reference log-probs -> mu updates.
The rollout engine and the log-prob passes are vrft.rollout's (the algorithm reads the same with every engine); with
one micro-batch per step the engine hands back each rollout's prompt prefill (`KeptPrefill`), which the first
update's policy pass is given. The reference model is frozen and kept out of the module's state (it is never checkpointed); with LoRA it is the
policy with its adapter disabled; with beta = 0 there is none. Left out: rollouts spread across ranks (each rank
samples whole groups for its own prompts), reward models.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager

import torch

from vrft.config import AlgoCfg
from vrft.grpo.advantages import frac_zero_std_groups, group_advantages, nonzero_std_groups
from vrft.grpo.loss import policy_loss
from vrft.grpo.reference import Reference
from vrft.grpo.scoring import Scores, score_rollouts
from vrft.policy_module import PolicyModule
from vrft.rewards.combine import Rewards
from vrft.rollout.batching import Rollout
from vrft.rollout.engines import Engine
from vrft.rollout.logps import LogProbs
from vrft.rollout.prefill import KeptPrefill


class GRPOModule(PolicyModule):
    def __init__(
        self,
        policy,
        processor,
        algo: AlgoCfg,
        *,
        rewards: Rewards,
        rollout_engine: Engine,
        logps: LogProbs,
        max_completion_length: int,
        reference: Reference | None,
        max_steps: int,
        on_samples: Callable | None = None,
    ):
        super().__init__(policy, algo, max_steps)
        self.processor = processor
        self.rewards = rewards
        self.rollout_engine = rollout_engine
        self.logps = logps
        self.max_completion_length = max_completion_length
        self._reference = [reference]  # a list keeps the frozen model out of state_dict and .to() moves
        self.on_samples = on_samples
        self._step_end: float | None = None  # end of the previous training_step (time/data is the gap)

    @property
    def reference(self) -> Reference | None:
        return self._reference[0]

    def training_step(self, batch: dict, batch_idx: int):
        timer = Timer()
        if self._step_end is not None:  # fetching this batch: decoding and collation (or waiting on workers)
            timer.laps["data"] = timer.t - self._step_end
        rollouts, prefills, scores, kept = self.sample(batch["micro"], timer)
        advantages = self.advantages(scores)
        timer.lap("scoring")
        metrics = self.update(rollouts, advantages, timer, prefills)
        timer.lap("training")
        metrics.update(self.rollout_metrics(rollouts, scores))
        metrics.update({f"time/{k}": v for k, v in timer.laps.items()}, kept_groups_frac=kept)
        metrics.update(memory_metrics(self.device))
        self.log_dict(
            {f"train/{k}": float(v) for k, v in metrics.items()},
            on_step=True,
            prog_bar=False,
            batch_size=sum(r.num_sequences for r in rollouts),
            sync_dist=True,  # mean over ranks (each rank holds its own prompts' groups); no-op in one process
        )
        if self.on_samples is not None:
            self.on_samples(self, batch, rollouts, scores)

    def on_fit_start(self) -> None:
        if self.reference is not None:  # kept out of .to() moves, so it follows the policy's device here
            self.reference.to(self.device)

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        self._step_end = time.perf_counter()  # runs after the callbacks (evaluation, checkpoints)

    def sample(
        self, micro: list[dict], timer: Timer
    ) -> tuple[list[Rollout], list[KeptPrefill | None], list[Scores], float]:
        """Rollouts, their kept prefills (for the first policy pass) and their scores; with dynamic sampling, groups
        whose rewards are all equal are dropped (and the prefills with them), and a step where every group was
        dropped is sampled again (at most `dynamic_sampling_max_tries` times)."""
        G = self.algo.num_generations
        tries = self.algo.dynamic_sampling_max_tries if self.algo.dynamic_sampling else 1
        # A kept prefill holds its activations until the policy pass: only with one micro-batch, so peak memory
        # stays one micro-batch's.
        keep = len(micro) == 1
        for _ in range(max(1, tries)):
            engine = self.rollout_engine
            sampled = [
                engine.sample(self.policy, mb["inputs"], G, images=mb.get("images"), keep_prefill=keep)
                for mb in micro
            ]
            rollouts, prefills = [r for r, _ in sampled], [k for _, k in sampled]
            timer.lap("rollout")
            progress = self.global_step / self.max_steps
            scores = score_rollouts(self.processor, rollouts, micro, self.rewards, G, progress)
            timer.lap("scoring")
            if not self.algo.dynamic_sampling:
                return rollouts, prefills, scores, 1.0
            kept = [
                (r, s, nonzero_std_groups(torch.tensor(s.totals), G).nonzero().flatten().tolist())
                for r, s in zip(rollouts, scores, strict=True)
            ]
            n_kept = sum(len(k) for _, _, k in kept)
            if n_kept:
                frac = n_kept / sum(r.num_sequences // G for r in rollouts)
                kept = [(r.rows(k), s.rows(k, G)) for r, s, k in kept if k]
                return [r for r, _ in kept], [None] * len(kept), [s for _, s in kept], frac
        return (
            rollouts,
            [None] * len(rollouts),
            scores,
            0.0,
        )  # every try degenerate: the full batch (KL term only)

    def advantages(self, scores: list[Scores]) -> list[torch.Tensor]:
        """Group advantages over the whole step (so `scale_rewards=batch` uses the step's std), split back per
        micro-batch."""
        totals = torch.tensor([t for s in scores for t in s.totals], dtype=torch.float32)
        adv = group_advantages(
            totals, self.algo.num_generations, scale=self.algo.scale_rewards, eps=self.algo.adv_eps
        )
        return list(torch.split(adv, [len(s.totals) for s in scores]))

    def update(
        self,
        rollouts: list[Rollout],
        advantages: list[torch.Tensor],
        timer: Timer | None = None,
        prefills: list[KeptPrefill | None] | None = None,
    ) -> dict[str, float]:
        """mu optimizer steps on the same rollouts; the first uses old = current log-probs (ratio exactly 1) and
        takes the rollouts' kept prefills, if any, for its policy passes."""
        timer = timer or Timer()
        need_old = self.algo.num_iterations > 1
        with torch.no_grad(), timer.part("old_pass"):
            old = [self.logps(self.policy, r)[0] if need_old else None for r in rollouts]
        with torch.no_grad(), timer.part("reference_pass"):
            ref = [self.reference.logps(r) if self.reference else None for r in rollouts]
        weights = self.micro_weights(rollouts)
        metrics: dict[str, float] = {}
        prefills = list(prefills or [None] * len(rollouts))
        for _ in range(self.algo.num_iterations):
            loss_sum, finite, agg = 0.0, True, Accumulator()
            for i, (r, a, o, rf, w) in enumerate(zip(rollouts, advantages, old, ref, weights, strict=True)):
                with timer.part("policy_pass"):
                    logps, entropy = self.logps(self.policy, r, with_entropy=True, kept=prefills[i])
                prefills[i] = None  # a kept prefill serves one gradient pass: this update's
                old_logps = o if o is not None else logps.detach()
                loss, m = policy_loss(
                    logps,
                    old_logps,
                    rf,
                    a.to(logps),
                    r.completion_mask.to(logps),
                    beta=self.algo.beta,
                    epsilon_low=self.algo.epsilon_low,
                    epsilon_high=self.algo.epsilon_high,
                    loss_type=self.algo.loss_type,
                    max_completion_length=self.max_completion_length,
                    kl=self.algo.kl,
                    importance_sampling_level=self.algo.importance_sampling_level,
                    return_metrics=True,
                )
                finite = self.finite_everywhere(loss) and finite  # every rank reduces
                if finite:
                    with timer.part("backward"):
                        self.manual_backward(loss * w)
                loss_sum += float(loss.detach()) * w
                mask = r.completion_mask.to(entropy)
                agg.add(w, entropy=float((entropy * mask).sum() / mask.sum().clamp(min=1)), **m)
            with timer.part("optimizer"):
                metrics = {"loss": loss_sum, **agg.mean(), **self.guarded_step(finite)}
            self.rollout_engine.after_update(self.policy)  # vLLM: its copy of the weights is now stale
        return metrics

    def micro_weights(self, rollouts: list[Rollout]) -> list[float]:
        """Each micro-batch's share of the step loss: tokens for token-level losses, sequences otherwise."""
        if self.algo.loss_type in ("dapo", "bnpo"):
            sizes = [float(r.completion_mask.sum()) for r in rollouts]
        else:
            sizes = [float(r.num_sequences) for r in rollouts]
        total = sum(sizes) or 1.0
        return [s / total for s in sizes]

    def rollout_metrics(self, rollouts: list[Rollout], scores: list[Scores]) -> dict[str, float]:
        lengths = torch.cat([r.completion_mask.sum(1).float() for r in rollouts])
        totals = torch.tensor([t for s in scores for t in s.totals])
        out = {
            "completion_len": float(lengths.mean()),
            "completion_len_max": float(lengths.max()),
            "truncated_frac": float(torch.cat([r.truncated for r in rollouts]).float().mean()),
            "reward": float(totals.mean()),
            "reward_std": float(totals.std()) if totals.numel() > 1 else 0.0,
        }
        G = self.algo.num_generations
        fracs = [frac_zero_std_groups(torch.tensor(s.totals), G) for s in scores]
        out["frac_zero_std_groups"] = sum(fracs) / len(fracs)
        names = scores[0].names
        for k, name in enumerate(names):
            col = torch.tensor([row[k] for s in scores for row in s.matrix])
            col = col[~torch.isnan(col)]
            if col.numel():
                out[f"reward/{name}"] = float(col.mean())
                out[f"reward/{name}_std"] = float(col.std()) if col.numel() > 1 else 0.0
        merged: dict[str, list[float]] = {}
        for s in scores:
            for k, v in s.monitors.items():
                merged.setdefault(k, []).append(v)
        out.update({f"hack/{k}": sum(v) / len(v) for k, v in merged.items()})
        return out


def memory_metrics(device: torch.device) -> dict[str, float]:
    """Peak accelerator memory since the last step (GiB) on CUDA; nothing on CPU."""
    if device.type != "cuda":
        return {}
    peak = torch.cuda.max_memory_allocated(device) / 2**30
    torch.cuda.reset_peak_memory_stats(device)
    return {"mem/peak_gib": peak}


def _now() -> float:
    """perf_counter after the GPU has finished its queued work (CUDA runs asynchronously), so each part's time is
    its own; plain perf_counter where CUDA is not in use."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.perf_counter()


class Timer:
    def __init__(self):
        self.t = _now()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = _now()
        self.laps[name] = self.laps.get(name, 0.0) + now - self.t
        self.t = now

    @contextmanager
    def part(self, name: str):
        """Time a part of the current lap under its own name (the lap itself still counts it)."""
        start = _now()
        try:
            yield
        finally:
            self.laps[name] = self.laps.get(name, 0.0) + _now() - start


class Accumulator:
    """Weighted means of per-micro-batch metrics."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.total = 0.0

    def add(self, w: float, **metrics: float) -> None:
        self.total += w
        for k, v in metrics.items():
            self.sums[k] = self.sums.get(k, 0.0) + w * float(v)

    def mean(self) -> dict[str, float]:
        return {k: v / (self.total or 1.0) for k, v in self.sums.items()}
