"""Decode a rollout and score it with the reward registry: per-reward matrix, weighted totals, hack monitors.

Rewards are pure functions of (completion text, dataset columns); this module only decodes token ids and repeats
each prompt's columns G times, as TRL does, and adds the `progress` column (training step / max steps, the same
for every completion of a step) that schedules such as the `iou` reward's dynamic threshold read. Left out: asynchronous or remote reward computation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vrft.rewards.combine import Rewards, score, weighted_total
from vrft.rewards.monitors import hack_monitors
from vrft.rollout.batching import Rollout


@dataclass
class Scores:
    names: list[str]
    matrix: list[list[float]]  # (N, K), NaN where a reward does not apply
    totals: list[float]  # (N,) NaN-aware weighted sums
    completions: list[str]
    monitors: dict[str, float] = field(default_factory=dict)

    def rows(self, groups: list[int], group_size: int) -> Scores:
        seq = [g * group_size + j for g in groups for j in range(group_size)]
        return Scores(
            self.names,
            [self.matrix[i] for i in seq],
            [self.totals[i] for i in seq],
            [self.completions[i] for i in seq],
            self.monitors,
        )


def decode(processor, r: Rollout) -> list[str]:
    ids = r.completion_ids.masked_fill(r.completion_mask == 0, processor.tokenizer.pad_token_id)
    return processor.batch_decode(ids, skip_special_tokens=True)


def repeat_columns(batch: dict, group_size: int, progress: float = 0.0) -> dict[str, list]:
    """Dataset columns (solution, kind, meta) repeated G times, aligned with the flattened completions, and
    `progress` (in [0, 1]) once per completion."""
    cols = {}
    for key in ("solution", "kind", "meta"):
        if key in batch:
            cols[key] = [v for v in batch[key] for _ in range(group_size)]
    cols["progress"] = [min(1.0, max(0.0, float(progress)))] * (len(batch["solution"]) * group_size)
    return cols


def score_rollouts(
    processor,
    rollouts: list[Rollout],
    micro: list[dict],
    rewards: Rewards,
    group_size: int,
    progress: float = 0.0,
) -> list[Scores]:
    out = []
    for r, mb in zip(rollouts, micro, strict=True):
        completions = decode(processor, r)
        cols = repeat_columns(mb, group_size, progress)
        solutions = cols.pop("solution")
        names, matrix = score(completions, solutions, rewards.specs, rewards.registry, **cols)
        totals = weighted_total(matrix, rewards.weights)
        monitors = hack_monitors(
            completions,
            solutions,
            compat=rewards.compat_monitors,
            math_verify=rewards.math_verify_monitor,
            think=rewards.think,
        )
        out.append(Scores(names, matrix, totals, completions, monitors))
    return out
