"""Reward-hacking monitors for a batch, computed from the same parse as the rewards.

`hack_monitors(completions, solutions)` returns rates a training loop logs next to the rewards:
- every kind: `no_answer_rate` (no `<answer>` block), `empty_answer_rate` (a block with nothing in it);
- detection samples: `invalid_entry_rate` (invalid entries / all entries), `duplicate_box_rate` (repeated valid
  boxes / valid boxes), `pred_boxes_per_answer` (entries per answer, before dedup; an unparsed answer counts 0)
  against `gt_boxes_per_answer`;
- classification samples: `strict_accuracy` (exact), `lenient_accuracy` (the paper's substring rule) and
  `lenient_strict_gap` (lenient - strict; growth means the policy learns to hedge).
- with `compat`: `compat/<key>` and `compat/any`, how often each difference between the hardened and the
  official reward sets had its condition met (vrft.rewards.official.differences).
Keys for a kind absent from the batch are left out; a rate with an empty denominator is 0.0. Leaves out:
logging (the caller prefixes keys, e.g. `train/monitor/...`) and grounding-specific monitors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vrft.rewards.classification import accuracy_score
from vrft.rewards.detection import gt_boxes
from vrft.rewards.official.differences import compat_monitors
from vrft.rewards.parse import (
    completion_text,
    dedup_boxes,
    extract_answer,
    parse_detection,
    solution_answer,
    solution_kind,
)


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def _detection(answers: list[str | None], solutions: list[str]) -> dict[str, float]:
    parses = [parse_detection(a) for a in answers]
    entries = [b for p in parses for b in p.boxes]
    valid = sum(b.valid for b in entries)
    kept = sum(sum(b.valid for b in dedup_boxes(p.boxes)) for p in parses)
    return {
        "invalid_entry_rate": _ratio(len(entries) - valid, len(entries)),
        "duplicate_box_rate": _ratio(valid - kept, valid),
        "pred_boxes_per_answer": len(entries) / len(answers),
        "gt_boxes_per_answer": _mean([len(gt_boxes(s)) for s in solutions]),
    }


def _classification(answers: list[str | None], solutions: list[str]) -> dict[str, float]:
    labels = [solution_answer(s) for s in solutions]
    strict = _mean([accuracy_score(a, g, "exact") for a, g in zip(answers, labels, strict=True)])
    lenient = _mean([accuracy_score(a, g, "substring") for a, g in zip(answers, labels, strict=True)])
    return {"strict_accuracy": strict, "lenient_accuracy": lenient, "lenient_strict_gap": lenient - strict}


def hack_monitors(
    completions: Sequence[Any],
    solutions: Sequence[Any],
    *,
    compat: bool = False,
    math_verify: bool = False,
    think: str = "on",
) -> dict[str, float]:
    """Monitor rates over a batch (see the module docstring for the keys); `think`: the format's layout."""
    if len(completions) != len(solutions):
        raise ValueError(f"hack_monitors: got {len(completions)} completions but {len(solutions)} solutions")
    answers = [extract_answer(completion_text(c)) for c in completions]
    out: dict[str, float] = {}
    if answers:
        out["no_answer_rate"] = _mean([a is None for a in answers])
        out["empty_answer_rate"] = _mean([a == "" for a in answers])
    kinds = [solution_kind(s) if isinstance(s, str) else None for s in solutions]
    for kind, fn in (("detection", _detection), ("classification", _classification)):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        if idx:
            out.update(fn([answers[i] for i in idx], [solutions[i] for i in idx]))
    if compat:
        out.update(compat_monitors(completions, solutions, math_verify=math_verify, think=think))
    return out
