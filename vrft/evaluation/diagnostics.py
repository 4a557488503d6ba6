"""Detection diagnostics at evaluation: what mAP folds together, taken apart.

`detection_diagnostics(completions, solutions, categories)` reads each held-out query's answer with the rewards'
parser and matching (`vrft.rewards.parse`, `boxes.match_boxes`: greedy by confidence, matched when IoU > t, the
rule the IoU and confidence rewards train with) against the query's solution (both in the model's coordinate
space; IoU does not depend on the axis scales). It gives, in percent:

- precision and recall at IoU 0.5, 0.75 and 0.95 (`precision@50`, `recall@75`, ...), over all queries (micro)
  and per category: precision = matched / predicted boxes (None without a prediction), recall = matched / truth
  boxes (None without truth);
- the rejection rate: of the absent-category queries (truth "No Objects"), the share answered "No Objects" or
  `[]`; and the false rejection rate: of the present-category queries, the share answered that way;
- the expected calibration error (ECE) of the confidences against correctness (matched at IoU 0.5, which is what
  the confidence reward rewards), over every predicted box: 10 equal-width bins, the bins' |accuracy - mean
  confidence| weighted by their share of boxes (torchmetrics' `binary_calibration_error`, norm l1).

Predicted boxes are the distinct valid ones (as `predictions_to_coco` keeps for mAP); invalid entries are only
counted (`invalid_entries`), an unparseable answer (`unparsed`) predicts nothing. `flat_diagnostics` names the
scalars for the loggers. Left out: area ranges, crowd boxes and AP itself (pycocotools, `detection.coco_map`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from vrft.rewards.boxes import match_boxes
from vrft.rewards.detection import gt_boxes
from vrft.rewards.parse import completion_text, dedup_boxes, extract_answer, parse_detection

IOU_THRESHOLDS = (0.5, 0.75, 0.95)
CALIBRATION_IOU = 0.5  # a box is correct when matched at this IoU (the confidence reward's own threshold)
ECE_BINS = 10  # equal-width confidence bins (Guo et al. 2017, "On Calibration of Modern Neural Networks")


@dataclass
class _Counts:
    """Matched, predicted and truth boxes per IoU threshold, for one category or all."""

    matched: dict[float, int] = field(default_factory=lambda: dict.fromkeys(IOU_THRESHOLDS, 0))
    predicted: int = 0
    truth: int = 0

    def add(self, preds: Sequence[Any], truth: Sequence[Any]) -> None:
        self.predicted += len(preds)
        self.truth += len(truth)
        for t in IOU_THRESHOLDS:
            self.matched[t] += sum(g is not None for _, g, _ in match_boxes(preds, truth, t))

    def rates(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for t in IOU_THRESHOLDS:
            out[f"precision@{_name(t)}"] = _pct(self.matched[t], self.predicted)
            out[f"recall@{_name(t)}"] = _pct(self.matched[t], self.truth)
        return out


def _name(t: float) -> str:
    """0.5 -> "50", as COCO's AP50 (no dot in a metric name)."""
    return str(round(t * 100))


def _pct(num: int, den: int) -> float | None:
    return 100.0 * num / den if den else None


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool]) -> float | None:
    """ECE in percent of confidences in [0, 1] against 0/1 correctness (`ECE_BINS` equal-width bins, l1); None
    without any box."""
    if not confidences:
        return None
    preds = torch.tensor(list(confidences), dtype=torch.float64)
    target = torch.tensor([int(c) for c in correct])
    from torchmetrics.functional.classification import binary_calibration_error  # heavy: imported on use

    return 100.0 * float(binary_calibration_error(preds, target, n_bins=ECE_BINS, norm="l1"))


def detection_diagnostics(
    completions: Sequence[Any], solutions: Sequence[str], categories: Sequence[str]
) -> dict[str, Any]:
    """The diagnostics of the module doc, one completion, solution and category per held-out query."""
    if not len(completions) == len(solutions) == len(categories):
        raise ValueError(
            f"got {len(completions)} completions, {len(solutions)} solutions, {len(categories)} categories"
        )
    total, per_class = _Counts(), {c: _Counts() for c in dict.fromkeys(categories)}
    confs: list[float] = []
    correct: list[bool] = []
    q = {"absent": 0, "rejected": 0, "present": 0, "false_rejected": 0, "unparsed": 0, "invalid": 0}
    for c, sol, cat in zip(completions, solutions, categories, strict=True):
        truth = gt_boxes(sol)
        if truth is None:  # not a detection solution
            continue
        parsed = parse_detection(extract_answer(completion_text(c)))
        kept = dedup_boxes(parsed.boxes)
        preds = [b for b in kept if b.valid]
        q["unparsed"] += not parsed.ok
        q["invalid"] += len(kept) - len(preds)
        rejected = parsed.ok and parsed.no_objects
        kind = "present" if truth else "absent"
        q[kind] += 1
        q["false_rejected" if truth else "rejected"] += rejected
        total.add(preds, truth)
        per_class[cat].add(preds, truth)
        for i, g, _ in match_boxes(preds, truth, CALIBRATION_IOU):
            confs.append(preds[i].confidence)
            correct.append(g is not None)
    return {
        **total.rates(),
        "rejection_rate": _pct(q["rejected"], q["absent"]),
        "false_rejection_rate": _pct(q["false_rejected"], q["present"]),
        "ece": expected_calibration_error(confs, correct),
        "absent_queries": q["absent"],
        "present_queries": q["present"],
        "predicted_boxes": total.predicted,
        "truth_boxes": total.truth,
        "unparsed": q["unparsed"],
        "invalid_entries": q["invalid"],
        "per_class": {cat: counts.rates() for cat, counts in per_class.items()},
    }


def flat_diagnostics(diag: dict[str, Any], prefix: str) -> dict[str, float]:
    """The numeric diagnostics as `{prefix}/<name>` and `{prefix}/per_class/<category>/<name>` (None left out)."""
    out = {f"{prefix}/{k}": float(v) for k, v in diag.items() if isinstance(v, int | float)}
    for cat, rates in diag.get("per_class", {}).items():
        out.update({f"{prefix}/per_class/{cat}/{k}": float(v) for k, v in rates.items() if v is not None})
    return out
