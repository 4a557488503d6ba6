"""The classification accuracy reward (official `grpo_classification.py` L55-99), strict by default.

Both the answer and the label are lowercased with all whitespace (not only spaces, as officially) and underscores
removed; an empty answer (or label) scores 0 (officially 1.0). `match="exact"` (default) gives 1.0 on equality; `match="substring"` is the paper's lenient rule, 1.0
when either contains the other, which rewards hacks such as "A or B or C" or a brand-only answer ("acura" for
"2012 Acura RL Sedan"); the monitors log both. Returns None for a solution that is not a class label. Leaves
out: synonym lists and the official math_verify pre-check (dropped, see spec section 1.2; the official set
has it, vrft.rewards.official).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vrft.errors import ConfigError
from vrft.rewards.base import REWARDS, per_sample
from vrft.rewards.parse import (
    completion_text,
    extract_answer,
    normalize_label,
    solution_answer,
    solution_kind,
)

MATCH_MODES = ("exact", "substring")


def accuracy_score(answer: str | None, label: str, match: str = "exact") -> float:
    """1.0 when the normalized answer equals (`exact`) or contains / is contained in (`substring`) the label."""
    if answer is None:
        return 0.0
    a, g = normalize_label(answer), normalize_label(label)
    if not a or not g:
        return 0.0
    if match == "exact":
        return float(a == g)
    return float(a in g or g in a)


def check_match(match: Any) -> str:
    if match not in MATCH_MODES:
        raise ConfigError(f"reward kwarg match must be one of {', '.join(MATCH_MODES)}, got {match!r}")
    return match


@REWARDS.register("accuracy")
def accuracy_reward(
    completions: Sequence[Any],
    solution: Sequence[Any],
    match: str = "exact",
    **columns: Any,
) -> list[float | None]:
    """TRL reward: classification accuracy per completion; None where the solution is not a class label."""
    check_match(match)

    def one(c: Any, sol: Any) -> float | None:
        if not isinstance(sol, str) or solution_kind(sol) != "classification":
            return None
        return accuracy_score(extract_answer(completion_text(c)), solution_answer(sol), match)

    return per_sample("accuracy", completions, solution, one)
