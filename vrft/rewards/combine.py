"""Reward sets: named rewards with weights and keyword arguments, scored as a matrix and summed NaN-aware.

`score` runs each `RewardSpec` over a batch (N completions x K rewards, None -> NaN); `weighted_total` is the
per-completion weighted sum that skips NaN (the official trainer sums rewards unweighted, `grpo_trainer.py`
L426-453; weights default to 1.0). `reward_fns` binds specs into callables for TRL's GRPOTrainer. Leaves out:
reading config (the caller builds `RewardSpec`s from `conf/reward/*.yaml`) and group advantages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vrft.errors import ConfigError
from vrft.registry import Registry
from vrft.rewards.base import REWARDS


@dataclass(frozen=True)
class RewardSpec:
    """One reward of a set: a registry name, its weight in the total and its keyword arguments."""

    name: str
    weight: float = 1.0
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Rewards:
    """A run's rewards: the specs, the reward set they are scored from (`reward.compat`) and whether the compat
    monitors run (`reward.compat_monitors`, always under `official`)."""

    specs: tuple[RewardSpec, ...]
    registry: Registry
    compat_monitors: bool
    math_verify_monitor: bool = (
        False  # compat/math_verify: under `official` only (the reward runs it there anyway)
    )
    think: str = "on"  # the layout the format reward scores (`prompt.think`), for the compat monitors

    def fns(self) -> list[BoundReward]:
        return reward_fns(self.specs, self.registry)

    @property
    def weights(self) -> list[float]:
        return [s.weight for s in self.specs]


class BoundReward:
    """A registry reward with its keyword arguments bound and named after its spec (`__name__`).

    Like `functools.partial`, but TRL 1.16 names a reward by `__name__` after unwrapping partials
    (`trl.trainer.utils.get_callable_name`), so a partial would be logged as `iou_reward`, not `iou`. Bound
    keywords win over same-named dataset columns. Picklable (the function is pickled by reference).
    """

    def __init__(self, name: str, func: Callable[..., list[float | None]], keywords: dict[str, Any]):
        self.__name__ = name
        self.__qualname__ = name
        self.func = func
        self.keywords = dict(keywords)

    def __call__(self, *args: Any, **columns: Any) -> list[float | None]:
        return self.func(*args, **{**columns, **self.keywords})

    def __repr__(self) -> str:
        return f"BoundReward({self.__name__!r}, {self.func.__name__}, {self.keywords!r})"


def _check_names(specs: Sequence[RewardSpec], registry: Registry) -> list[str]:
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"reward set names {', '.join(dup)} more than once; each reward is logged by name")
    for n in names:
        registry.get(n)  # unknown name -> error listing the valid ones
    return names


def reward_fns(specs: Sequence[RewardSpec], registry: Registry = REWARDS) -> list[BoundReward]:
    """One callable per spec from `registry` (a reward set, vrft.rewards.sets), `fn(completions, **columns)`, for
    TRL's `reward_funcs` (weights go to `GRPOConfig.reward_weights` as `[s.weight for s in specs]`)."""
    _check_names(specs, registry)
    return [BoundReward(s.name, registry.get(s.name), s.kwargs) for s in specs]


def score(
    completions: Sequence[Any],
    solutions: Sequence[Any],
    specs: Sequence[RewardSpec],
    registry: Registry = REWARDS,
    **columns: Any,
) -> tuple[list[str], list[list[float]]]:
    """Reward names and the N x K matrix of rewards from `registry` (NaN where a reward does not apply)."""
    names = _check_names(specs, registry)
    cols: list[list[float]] = []
    for fn in reward_fns(specs, registry):
        out = fn(completions, solution=solutions, **columns)
        if len(out) != len(completions):
            raise ValueError(
                f"reward {fn.__name__!r} returned {len(out)} values for {len(completions)} completions"
            )
        cols.append([math.nan if v is None else _value(v) for v in out])
    return names, [[col[i] for col in cols] for i in range(len(completions))]


def _value(v: Any) -> float:
    """A reward's own value; a non-finite one (a broken reward) becomes +inf, so the completion's total is
    non-finite and the training step is skipped, instead of NaN being read as 'not applicable'."""
    f = float(v)
    return f if math.isfinite(f) else math.inf


def weighted_total(matrix: Sequence[Sequence[float]], weights: Sequence[float]) -> list[float]:
    """Per row, the sum of weight x value over non-NaN values; a row that is all NaN gives 0.0."""
    totals = []
    for r, row in enumerate(matrix):
        if len(row) != len(weights):
            raise ValueError(
                f"weighted_total: row {r} has {len(row)} rewards but there are {len(weights)} weights"
            )
        totals.append(float(sum(w * v for w, v in zip(weights, row, strict=True) if not math.isnan(v))))
    return totals
