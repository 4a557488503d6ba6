"""Classification accuracy from model answers, strict and with the paper's lenient rule.

Answers are read with the rewards' parser (`vrft.rewards.parse`) and compared after its `normalize_label`
(lowercase, spaces and underscores removed). Strict: the normalised answer equals the normalised label.
Lenient: the paper's bidirectional substring rule (spec 5.1), which the paper's reported accuracies use; it counts
"Acura" right for "2012 Acura RL Sedan". An empty answer is wrong under both rules (the paper counted it right).
Left out: the inference loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vrft.rewards.parse import completion_text, extract_answer, normalize_label, solution_answer


def label_match(answer: str | None, label: str) -> tuple[bool, bool]:
    """(strict, lenient) correctness of one extracted answer against a class name or `<answer>` solution."""
    pred = normalize_label(answer) if answer is not None else ""
    gt = normalize_label(solution_answer(label))
    if not pred or not gt:
        return False, False
    return pred == gt, pred in gt or gt in pred


def classification_accuracy(completions: Sequence[Any], labels: Sequence[str]) -> dict[str, float | int]:
    """`{"accuracy": %, "accuracy_lenient": %, "no_answer": count, "per_class": {label: strict %}}` over all
    samples (a missing answer is wrong); `labels` are class names or `<answer>label</answer>` solutions, one per
    completion."""
    if len(completions) != len(labels):
        raise ValueError(f"got {len(completions)} completions but {len(labels)} labels (one each)")
    strict = lenient = no_answer = 0
    hits: dict[str, list[bool]] = {}
    for c, label in zip(completions, labels, strict=True):
        answer = extract_answer(completion_text(c))
        no_answer += answer is None
        s, lax = label_match(answer, label)
        strict += s
        lenient += lax
        hits.setdefault(solution_answer(label), []).append(s)
    n = max(len(labels), 1)
    per_class = {name: 100 * sum(h) / len(h) for name, h in hits.items()}
    return {
        "accuracy": 100 * strict / n,
        "accuracy_lenient": 100 * lenient / n,
        "no_answer": no_answer,
        "per_class": per_class,
    }
