"""The base model's quality gate: the mean task reward of its greedy answers on held-out base queries.

`gate_score(predictions_json, family)` reads the evaluator's `predictions_<tag>.json` (problem, solution,
completion per held-out query) and averages the family's accuracy reward over it with the rewards' own
functions: detection -> the IoU reward (`iou`), grounding -> IoU of the box (`giou` - 1 would mix in the
enclosing-box term, so the plain IoU of the parsed box is used), classification -> the accuracy reward.
`check_gate` compares it with the threshold and returns a JSON-able verdict. Left out: format reward (a base
that learnt the format but not the task must fail).
"""

from __future__ import annotations

import json
from pathlib import Path

from vrft.errors import DataError
from vrft.rewards.base import REWARDS
from vrft.rewards.boxes import box_iou
from vrft.rewards.parse import extract_answer, parse_grounding, solution_answer

GATE_REWARD = {"detection": "iou", "classification": "accuracy", "grounding": "iou"}


def _grounding_iou(completion: str, solution: str) -> float:
    pred = parse_grounding(extract_answer(completion))
    gt = parse_grounding(solution_answer(solution))
    return 0.0 if pred is None or gt is None else box_iou(pred, gt)


def gate_score(predictions_json: Path, family: str) -> float:
    """Mean gate reward (0..1) over the held-out queries of an evaluator predictions file."""
    path = Path(predictions_json)
    if not path.is_file():
        raise DataError(
            f"{path}: evaluation predictions not found (the base run did not finish its evaluation)"
        )
    preds = json.loads(path.read_text())
    if not preds:
        raise DataError(f"{path}: no predictions")
    completions = [p["completion"] for p in preds]
    solutions = [p["solution"] for p in preds]
    if family == "grounding":
        scores = [_grounding_iou(c, s) for c, s in zip(completions, solutions, strict=True)]
    else:
        scores = REWARDS.get(GATE_REWARD[family])(completions, solution=solutions)
    vals = [float(s) for s in scores if s is not None]
    return sum(vals) / len(vals) if vals else 0.0


def check_gate(predictions_json: Path, family: str, threshold: float) -> dict:
    score = gate_score(predictions_json, family)
    return {
        "reward": GATE_REWARD[family],
        "score": round(score, 4),
        "threshold": threshold,
        "passed": score >= threshold,
        "queries": len(json.loads(Path(predictions_json).read_text())),
    }
