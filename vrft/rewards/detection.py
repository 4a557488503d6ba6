"""The detection rewards: IoU (official `compute_reward_iou_v2`, `grpo.py` L172-192) and confidence
(`compute_reward_confidence`, L194-212), both in [0, 1].

A completion's answer is parsed with `parse.parse_detection`; an answer that does not parse (or is missing)
scores 0. Invalid entries count as unmatched predictions with IoU 0 and no confidence credit; identical valid
boxes are kept once. With n predictions after dedup (invalid ones included) and m ground-truth boxes:
`iou = sum(matched IoU) / max(n, m)` and `confidence = mean(c if matched, 1 - c if unmatched, 0 if invalid)`;
both are 1.0 when n = m = 0 (a correct "No Objects"); `iou` is 0.0 when exactly one is empty and `confidence` is
0.0 when n = 0 < m. Returns None for a solution that is not a detection answer.

Two keywords choose the matching. `matching`: `greedy` (the paper's, by confidence; the default) or `hungarian`
(the assignment with the largest total IoU, `boxes.match_boxes_hungarian`); the normalisation stays
sum / max(n, m). `iou_schedule`: `fixed` (`iou_threshold` throughout) or `dynamic`, V-Triune's threshold by
training progress (arXiv 2505.18129: 0.85 for the first 10% of steps, 0.95 up to 25%, then 0.99), read from the
`progress` column (training step / max steps, one value per completion). The official code's scores are
the official set's (vrft.rewards.official). Leaves out: the official math_verify pre-check and its truncation repair
(an answer cut off mid-list scores 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vrft.errors import ConfigError
from vrft.rewards.base import REWARDS, check_iou_threshold, per_sample
from vrft.rewards.boxes import MATCHERS, Box
from vrft.rewards.parse import (
    DetectionParse,
    completion_text,
    dedup_boxes,
    extract_answer,
    parse_detection,
    solution_answer,
)


def gt_boxes(solution: Any) -> tuple[Box, ...] | None:
    """The ground-truth boxes of a detection solution (entries with a valid Position; Confidence not needed),
    or None when the solution is not a detection answer."""
    if not isinstance(solution, str):
        return None
    gt = parse_detection(solution_answer(solution), max_entries=None)
    if not gt.ok:
        return None
    return tuple(b.position for b in gt.boxes if b.position is not None)


DYNAMIC_IOU_STEPS = ((0.10, 0.85), (0.25, 0.95), (1.0, 0.99))
"""V-Triune's dynamic IoU threshold (`reward_server/verify.py`): (progress below which it holds, threshold); the
last holds from 25% of training to the end."""


def dynamic_iou_threshold(progress: float) -> float:
    """V-Triune's threshold at training `progress` in [0, 1]: 0.85 below 0.1, 0.95 below 0.25, else 0.99."""
    for upto, t in DYNAMIC_IOU_STEPS:
        if progress < upto:
            return t
    return DYNAMIC_IOU_STEPS[-1][1]


def _thresholds(name: str, schedule: Any, fixed: float, progress: Any, n: int) -> list[float]:
    """One IoU threshold per completion: `fixed` for `iou_schedule: fixed`, else the dynamic one of its
    `progress` value."""
    if schedule == "fixed":
        return [fixed] * n
    if schedule != "dynamic":
        raise ConfigError(f"reward {name!r}: kwarg iou_schedule must be fixed or dynamic, got {schedule!r}")
    if progress is None or len(progress) != n:
        raise ConfigError(
            f"reward {name!r}: iou_schedule=dynamic needs a `progress` column (one value per completion)"
        )
    out = []
    for p in progress:
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"reward {name!r}: progress must be a number in [0, 1], got {p!r}")
        out.append(dynamic_iou_threshold(float(p)))
    return out


def iou_score(
    pred: DetectionParse, gts: Sequence[Box], iou_threshold: float = 0.5, matching: str = "greedy"
) -> float:
    """Sum of matched IoUs over max(n, m); see the module docstring for the empty cases."""
    if not pred.ok:
        return 0.0
    boxes = dedup_boxes(pred.boxes)
    n, m = len(boxes), len(gts)
    if n == 0 or m == 0:
        return 1.0 if n == m else 0.0
    total = sum(iou for _, j, iou in MATCHERS[matching](boxes, gts, iou_threshold) if j is not None)
    return min(1.0, max(0.0, total / max(n, m)))


def confidence_score(
    pred: DetectionParse, gts: Sequence[Box], iou_threshold: float = 0.5, matching: str = "greedy"
) -> float:
    """Mean over predictions of c (matched), 1 - c (unmatched) or 0 (invalid), summed in matching order (by
    confidence, as the official code sums), so clean answers score to the bit as officially."""
    if not pred.ok:
        return 0.0
    boxes = dedup_boxes(pred.boxes)
    if not boxes:
        return 1.0 if not gts else 0.0
    vals = [
        0.0 if not boxes[i].valid else boxes[i].confidence if j is not None else 1.0 - boxes[i].confidence
        for i, j, _ in MATCHERS[matching](boxes, gts, iou_threshold)
    ]
    return min(1.0, max(0.0, sum(vals) / len(vals)))


def _detection_reward(
    name: str, completions, solution, iou_threshold, matching, iou_schedule, progress
) -> list[float | None]:
    fixed = check_iou_threshold(iou_threshold)
    if matching not in MATCHERS:
        raise ConfigError(
            f"reward {name!r}: kwarg matching must be one of {', '.join(MATCHERS)}, got {matching!r}"
        )
    thresholds = iter(_thresholds(name, iou_schedule, fixed, progress, len(completions)))
    scorer = {"iou": iou_score, "confidence": confidence_score}[name]

    def one(c: Any, sol: Any) -> float | None:
        t = next(thresholds)
        gts = gt_boxes(sol)
        if gts is None:
            return None
        return scorer(parse_detection(extract_answer(completion_text(c))), gts, t, matching)

    return per_sample(name, completions, solution, one)


@REWARDS.register("iou")
def iou_reward(
    completions: Sequence[Any],
    solution: Sequence[Any],
    iou_threshold: float = 0.5,
    matching: str = "greedy",
    iou_schedule: str = "fixed",
    progress: Sequence[float] | None = None,
    **columns: Any,
) -> list[float | None]:
    """TRL reward: detection IoU reward per completion; None where the solution is not a detection answer."""
    return _detection_reward("iou", completions, solution, iou_threshold, matching, iou_schedule, progress)


@REWARDS.register("confidence")
def confidence_reward(
    completions: Sequence[Any],
    solution: Sequence[Any],
    iou_threshold: float = 0.5,
    matching: str = "greedy",
    iou_schedule: str = "fixed",
    progress: Sequence[float] | None = None,
    **columns: Any,
) -> list[float | None]:
    """TRL reward: detection confidence reward per completion; None where the solution is not a detection answer."""
    return _detection_reward(
        "confidence", completions, solution, iou_threshold, matching, iou_schedule, progress
    )
