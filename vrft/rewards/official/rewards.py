"""The official reward set: each reward of vrft.rewards under the same name and keywords, scored by the official
code's rules (`rules`). A keyword the official code has no use for (`match`) is still checked, then ignored (the
official rule is substring). Leaves out: the rules themselves (`rules`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vrft.errors import ConfigError
from vrft.registry import Registry
from vrft.rewards.base import check_iou_threshold, per_sample
from vrft.rewards.classification import check_match
from vrft.rewards.detection import gt_boxes
from vrft.rewards.format import check_think, format_score
from vrft.rewards.official.rules import official_accuracy, official_confidence, official_giou, official_iou
from vrft.rewards.parse import completion_text, solution_kind

OFFICIAL_REWARDS = Registry("official reward")


@OFFICIAL_REWARDS.register("format")
def format_reward(completions: Sequence[Any], think: str = "on", **columns: Any) -> list[float | None]:
    """The format score in the `think` layout without stripping surrounding whitespace (a trailing newline scores
    0); `on` is the official regex, the other layouts are vrft's (the official code has only `on`)."""
    check_think(think)
    return [format_score(completion_text(c), strip=False, think=think) for c in completions]


@OFFICIAL_REWARDS.register("accuracy")
def accuracy_reward(
    completions: Sequence[Any], solution: Sequence[Any], match: str = "exact", **columns: Any
) -> list[float | None]:
    """The official classification accuracy (`rules.official_accuracy`; `match` is ignored)."""
    check_match(match)

    def one(c: Any, sol: Any) -> float | None:
        if not isinstance(sol, str) or solution_kind(sol) != "classification":
            return None
        return official_accuracy(completion_text(c), sol)

    return per_sample("accuracy", completions, solution, one)


def _detection(name: str, completions, solution, iou_threshold, columns) -> list[float | None]:
    t = check_iou_threshold(iou_threshold)
    for key, only in (("matching", "greedy"), ("iou_schedule", "fixed")):
        if columns.get(key, only) != only:
            raise ConfigError(
                f"reward {name!r}: kwarg {key}={columns[key]!r} exists only under reward.compat=hardened "
                f"(the official code has {key}={only})"
            )
    scorer = {"iou": official_iou, "confidence": official_confidence}[name]

    def one(c: Any, sol: Any) -> float | None:
        return None if gt_boxes(sol) is None else scorer(completion_text(c), sol, t)

    return per_sample(name, completions, solution, one)


@OFFICIAL_REWARDS.register("iou")
def iou_reward(
    completions: Sequence[Any], solution: Sequence[Any], iou_threshold: float = 0.5, **columns: Any
) -> list[float | None]:
    """The official IoU reward (`rules.official_iou`)."""
    return _detection("iou", completions, solution, iou_threshold, columns)


@OFFICIAL_REWARDS.register("confidence")
def confidence_reward(
    completions: Sequence[Any], solution: Sequence[Any], iou_threshold: float = 0.5, **columns: Any
) -> list[float | None]:
    """The official confidence reward (`rules.official_confidence`)."""
    return _detection("confidence", completions, solution, iou_threshold, columns)


@OFFICIAL_REWARDS.register("giou")
def giou_reward(completions: Sequence[Any], solution: Sequence[Any], **columns: Any) -> list[float | None]:
    """The official grounding reward, GIoU + 1 (`rules.official_giou`)."""

    def one(c: Any, sol: Any) -> float | None:
        if not isinstance(sol, str) or solution_kind(sol) != "grounding":
            return None
        return official_giou(completion_text(c), sol)

    return per_sample("giou", completions, solution, one)
