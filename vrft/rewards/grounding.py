"""The reasoning-grounding reward: GIoU + 1 in [0, 2] (official `grpo_lisa.py` L56-142).

The first `(x1,y1),(x2,y2)` of the answer is compared with the first of the solution, in whatever space both are
written. An answer without a valid pair scores 0. Returns None for a solution that is not a grounding box. Leaves
out: the official string-equality shortcut (identical boxes already give 2.0), its point-pairing bug for several
boxes, its division by 1000 (GIoU is scale-free), and the math_verify pre-check; the official set keeps them
all (vrft.rewards.official). Unlike the official code, a zero-area or reversed box scores 0 and decimal coordinates parse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vrft.rewards.base import REWARDS, per_sample
from vrft.rewards.boxes import Box, box_giou
from vrft.rewards.parse import (
    completion_text,
    extract_answer,
    parse_grounding,
    solution_answer,
    solution_kind,
)


def giou_score(pred: Box | None, gt: Box) -> float:
    """GIoU + 1 of a parsed prediction against the ground truth; 0.0 without a prediction."""
    return 0.0 if pred is None else box_giou(pred, gt) + 1.0


@REWARDS.register("giou")
def giou_reward(completions: Sequence[Any], solution: Sequence[Any], **columns: Any) -> list[float | None]:
    """TRL reward: GIoU + 1 per completion; None where the solution holds no grounding box."""

    def one(c: Any, sol: Any) -> float | None:
        if not isinstance(sol, str) or solution_kind(sol) != "grounding":
            return None
        gt = parse_grounding(solution_answer(sol))
        return giou_score(parse_grounding(extract_answer(completion_text(c))), gt)

    return per_sample("giou", completions, solution, one)
