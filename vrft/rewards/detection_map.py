"""Per-completion detection rewards beyond the paper's: COCO mAP (`map`) and the box-count penalty (`count`).

`map`: COCO AP@[.50:.95] of one completion's boxes against its solution's boxes, one image and one category, the
confidences as scores: pycocotools' rules (IoU thresholds 0.50:0.05:0.95, a detection matches the unmatched truth
box of highest IoU when IoU >= the threshold, 101-point interpolated precision, maxDets 100, ties in score kept in
answer order), as VLM-R1's and V-Triune's per-sample mAP rewards. Written by hand because pycocotools evaluates a
dataset through `COCO` objects and prints; a reward scores every completion of every step and must be pure; the
tests check it equals pycocotools. Unlike pycocotools, no area range drops a box (every box counts). Truth "No
Objects": 1.0 when the answer has no box, else 0.0; truth boxes and no answer box: 0.0. Entries without a valid
position or confidence are left out (ranked last, a false positive could not change AP); duplicates stay (each
extra one is a false positive, as in COCO).

`count`: 0.6 ** |n - m| (V-Triune, arXiv 2505.18129, `utils/det_helper.py`), n the answer's distinct valid boxes
(identical ones once; an entry without a valid position and confidence is not a box, so `[{}, {}]` cannot pass
for two objects), m the truth boxes; "No Objects" is 0
boxes; an answer that does not parse scores 0.0.

Both return None for a solution that is not a detection answer. Leaves out: matching by category (each sample
asks for one category) and LVIS' federated rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vrft.rewards.base import REWARDS, per_sample
from vrft.rewards.boxes import Box, box_iou
from vrft.rewards.detection import gt_boxes
from vrft.rewards.parse import DetectionParse, completion_text, dedup_boxes, extract_answer, parse_detection

IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
"""pycocotools `Params.iouThrs`, built the same way so the thresholds are the same floats."""
RECALL_POINTS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
"""pycocotools `Params.recThrs`: the 101 recall points of interpolated precision."""
MAX_DETS = 100
COUNT_BASE = 0.6


def _matches(ious: list[list[float]], n_gt: int, t: float) -> list[bool]:
    """Per detection (in score order), whether it matches at threshold `t` (pycocotools `evaluateImg`)."""
    taken = [False] * n_gt
    out = []
    for row in ious:
        best, m = min(t, 1 - 1e-10), -1
        for g in range(n_gt):
            if taken[g] or row[g] < best:
                continue
            best, m = row[g], g
        if m >= 0:
            taken[m] = True
        out.append(m >= 0)
    return out


def _ap(tp: list[bool], n_gt: int) -> float:
    """101-point interpolated AP of one ranked list (pycocotools `accumulate`)."""
    tps = np.cumsum(np.array(tp, dtype=float))
    fps = np.cumsum(~np.array(tp, dtype=bool), dtype=float)
    if not len(tps):
        return 0.0
    rc = tps / n_gt
    pr = np.maximum.accumulate((tps / (fps + tps + np.spacing(1)))[::-1])[::-1]
    idx = np.searchsorted(rc, RECALL_POINTS, side="left")
    q = np.where(idx < len(pr), pr[np.minimum(idx, len(pr) - 1)], 0.0)
    return float(q.mean())


def map_score(pred: DetectionParse, gts: Sequence[Box]) -> float:
    """COCO AP@[.50:.95] of one parsed answer against truth boxes; see the module docstring."""
    if not pred.ok:
        return 0.0
    dets = [b for b in pred.boxes if b.valid]
    if not gts:
        return 1.0 if not dets else 0.0
    if not dets:
        return 0.0
    dets = sorted(dets, key=lambda b: -b.confidence)[:MAX_DETS]  # stable, as numpy's mergesort in pycocotools
    ious = [[box_iou(d.position, g) for g in gts] for d in dets]
    return float(np.mean([_ap(_matches(ious, len(gts), float(t)), len(gts)) for t in IOU_THRESHOLDS]))


def count_score(pred: DetectionParse, gts: Sequence[Box]) -> float:
    """0.6 ** |n - m|; 0.0 when the answer does not parse."""
    if not pred.ok:
        return 0.0
    n = sum(1 for b in dedup_boxes(pred.boxes) if b.valid)
    return COUNT_BASE ** abs(n - len(gts))


def _reward(name: str, scorer, completions, solution) -> list[float | None]:
    def one(c: Any, sol: Any) -> float | None:
        gts = gt_boxes(sol)
        if gts is None:
            return None
        return scorer(parse_detection(extract_answer(completion_text(c))), gts)

    return per_sample(name, completions, solution, one)


@REWARDS.register("map")
def map_reward(completions: Sequence[Any], solution: Sequence[Any], **columns: Any) -> list[float | None]:
    """TRL reward: per-completion COCO AP@[.50:.95]; None where the solution is not a detection answer."""
    return _reward("map", map_score, completions, solution)


@REWARDS.register("count")
def count_reward(completions: Sequence[Any], solution: Sequence[Any], **columns: Any) -> list[float | None]:
    """TRL reward: 0.6 ** |#answer boxes - #truth boxes|; None where the solution is not a detection answer."""
    return _reward("count", count_score, completions, solution)
