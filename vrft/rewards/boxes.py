"""Box geometry and box matching (the paper's greedy rule, or Hungarian), shared by rewards, monitors and evaluation.

Boxes are `(x1, y1, x2, y2)` in any one coordinate space (rewards compare a prediction and a solution in the
same space). Every function is pure and returns finite values: IoU in [0, 1] and GIoU in [-1, 1], with
overflowing or degenerate inputs mapped to the worst value instead of NaN. Leaves out: parsing (see `parse`) and
COCO-style AP (evaluation uses pycocotools / lvis-api).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from scipy.optimize import linear_sum_assignment

Box = tuple[float, float, float, float]


def _area(b: Sequence[float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _inter_union(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    return inter, _area(a) + _area(b) - inter


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Plain xyxy intersection over union (official `grpo.py` L87-107); 0.0 without overlap or when undefined."""
    inter, union = _inter_union(a, b)
    r = inter / union if union > 0 else 0.0
    return min(1.0, max(0.0, r)) if math.isfinite(r) else 0.0


def box_giou(a: Sequence[float], b: Sequence[float]) -> float:
    """Generalized IoU `IoU - (C - U) / C`, C the smallest enclosing box; -1.0 when undefined or overflowing."""
    inter, union = _inter_union(a, b)
    c = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    if not (union > 0 and c > 0):
        return -1.0
    g = inter / union - (c - union) / c
    return min(1.0, max(-1.0, g)) if math.isfinite(g) else -1.0


def match_boxes(
    preds: Sequence[Any], gts: Sequence[Sequence[float]], iou_threshold: float = 0.5
) -> list[tuple[int, int | None, float]]:
    """The paper's greedy one-to-one matching (official `sort_and_calculate_iou`, `grpo.py` L109-134).

    `preds` are objects with `position`, `confidence` and `valid` (a `parse.PredBox`). Valid predictions are taken
    in descending confidence (stable for ties); each takes the unmatched ground-truth box with the highest IoU
    (the first on ties) and is matched when that IoU > `iou_threshold` (strictly). Returns one
    `(pred_index, gt_index | None, iou)` per prediction in that order, then the invalid predictions in index order;
    `iou` is 0.0 for an unmatched or invalid prediction.
    """
    order = sorted((i for i, p in enumerate(preds) if p.valid), key=lambda i: -preds[i].confidence)
    taken = [False] * len(gts)
    out: list[tuple[int, int | None, float]] = []
    for i in order:
        best_j, best = None, 0.0
        for j, g in enumerate(gts):
            if taken[j]:
                continue
            v = box_iou(preds[i].position, g)
            if best_j is None or v > best:
                best_j, best = j, v
        if best_j is not None and best > iou_threshold:
            taken[best_j] = True
            out.append((i, best_j, best))
        else:
            out.append((i, None, 0.0))
    out.extend((i, None, 0.0) for i, p in enumerate(preds) if not p.valid)
    return out


def match_boxes_hungarian(
    preds: Sequence[Any], gts: Sequence[Sequence[float]], iou_threshold: float = 0.5
) -> list[tuple[int, int | None, float]]:
    """One-to-one matching that maximises the total IoU over pairs with IoU > `iou_threshold` (strictly), as
    VisionReasoner's multi-object reward (arXiv 2505.12081) matches; solved by scipy's `linear_sum_assignment`.

    Same input and output shape as `match_boxes`: one `(pred_index, gt_index | None, iou)` per valid prediction in
    descending confidence (stable), then the invalid ones in index order. Confidence does not affect which pairs
    are matched, only the order of the list.
    """
    order = sorted((i for i, p in enumerate(preds) if p.valid), key=lambda i: -preds[i].confidence)
    assigned: dict[int, tuple[int, float]] = {}
    if order and len(gts):
        w = [[box_iou(preds[i].position, g) for g in gts] for i in order]
        w = [[v if v > iou_threshold else 0.0 for v in row] for row in w]
        rows, cols = linear_sum_assignment(w, maximize=True)
        assigned = {order[r]: (int(c), w[r][c]) for r, c in zip(rows, cols, strict=True) if w[r][c] > 0.0}
    out = [(i, *assigned[i]) if i in assigned else (i, None, 0.0) for i in order]
    out.extend((i, None, 0.0) for i, p in enumerate(preds) if not p.valid)
    return out


MATCHERS = {"greedy": match_boxes, "hungarian": match_boxes_hungarian}
"""The box matchings a detection reward's `matching` keyword chooses between."""
