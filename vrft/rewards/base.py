"""The reward registry and the per-sample loop every reward shares.

`REWARDS` maps a reward name (`format`, `accuracy`, `iou`, `confidence`, `map`, `count`, `giou`) to a function with TRL's reward
signature `fn(completions, solution, **columns) -> list[float | None]`. `per_sample` applies a pure per-sample
scorer over a batch. Leaves out: the scorers themselves (one module per task) and weighting (see `combine`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from vrft.errors import ConfigError
from vrft.registry import Registry

REWARDS = Registry("reward")


def per_sample(
    name: str, completions: Sequence[Any], solution: Sequence[Any], fn: Callable[[Any, Any], float | None]
) -> list[float | None]:
    """`[fn(completion, solution) for each pair]`; a length mismatch is a caller error and raises."""
    if len(completions) != len(solution):
        raise ValueError(
            f"reward {name!r}: got {len(completions)} completions but {len(solution)} solutions (one each)"
        )
    return [fn(c, s) for c, s in zip(completions, solution, strict=True)]


def check_iou_threshold(value: Any) -> float:
    """The `iou_threshold` reward keyword as a float in [0, 1); anything else is a config error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ConfigError(f"reward kwarg iou_threshold must be a number in [0, 1), got {value!r}")
    return float(value)
