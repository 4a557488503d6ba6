"""Reasoning-grounding evaluation: box IoU of the answers, and mask gIoU / cIoU where masks are given.

`grounding_metrics` parses each answer's `(x1,y1),(x2,y2)` with the rewards' parser, decodes it with the model
family's codec and takes its IoU with the ground-truth box in absolute pixels of the original image (the same
value as the paper's IoU in normalised coordinates, since IoU does not change under per-axis scaling); a missing
or unparsable answer counts IoU 0 (spec 5.4). `mask_metrics` compares predicted masks with ground-truth polygons
rasterised by `pycocotools.mask`. Left out: producing masks from boxes (the paper prompts SAM ViT-H with the box).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from vrft.models.codec import Codec
from vrft.rewards.parse import box_iou, completion_text, extract_answer, parse_grounding


def grounding_ious(completions: Sequence[Any], metas: Sequence[dict], codec: Codec) -> list[float | None]:
    """Per-sample IoU (0..1) of the answer box with `meta["box_abs"]` (`meta` also gives width and height);
    None where the answer has no box."""
    if len(completions) != len(metas):
        raise ValueError(f"got {len(completions)} completions but {len(metas)} metas (one each)")
    out = []
    for c, meta in zip(completions, metas, strict=True):
        box = parse_grounding(extract_answer(completion_text(c)))
        if box is None:
            out.append(None)
            continue
        pred = codec.decode(box, meta["width"], meta["height"])
        out.append(box_iou(pred, meta["box_abs"]))
    return out


def grounding_metrics(
    completions: Sequence[Any], metas: Sequence[dict], codec: Codec
) -> dict[str, float | int]:
    """`{"mIoU": %, "AP50": % of answers with IoU > 0.5, "no_box": count of answers without a box}`."""
    found = grounding_ious(completions, metas, codec)
    ious = [0.0 if v is None else v for v in found]
    if not ious:
        return {"mIoU": 0.0, "AP50": 0.0, "no_box": 0}
    return {
        "mIoU": 100 * float(np.mean(ious)),
        "AP50": 100 * float(np.mean([v > 0.5 for v in ious])),
        "no_box": sum(v is None for v in found),
    }


def polygons_to_mask(polygons: Sequence[Sequence[Any]], width: int, height: int) -> np.ndarray:
    """The union of polygons (each `[x1, y1, x2, y2, ...]` or `[(x, y), ...]`) as a bool (height, width) mask.

    Polygons with fewer than 3 points have no area and are skipped.
    """
    flat = [np.asarray(p, dtype=float).reshape(-1).tolist() for p in polygons]
    flat = [p for p in flat if len(p) >= 6]
    if not flat:
        return np.zeros((height, width), dtype=bool)
    rle = mask_utils.merge(mask_utils.frPyObjects(flat, height, width))
    return mask_utils.decode(rle).astype(bool)


def _as_mask(pred: Any, width: int, height: int) -> np.ndarray:
    """A predicted mask from a bool/0-1 array or a COCO RLE dict; None is an empty mask."""
    if pred is None:
        return np.zeros((height, width), dtype=bool)
    m = mask_utils.decode(pred) if isinstance(pred, dict) else np.asarray(pred)
    m = m.astype(bool)
    if m.shape != (height, width):
        raise ValueError(f"predicted mask has shape {m.shape}, expected (height, width) = {(height, width)}")
    return m


def mask_metrics(
    pred_masks: Sequence[Any], gt_polygons: Sequence[Sequence[Any]], sizes: Sequence[tuple[int, int]]
) -> dict[str, float]:
    """`{"gIoU": mean per-image mask IoU %, "cIoU": sum of intersections / sum of unions %}`.

    `sizes` are (width, height) per image; `gt_polygons` the ground-truth polygons per image (pass only the
    first polygon to follow the paper's `mask_iou.py`). An image where both masks are empty has IoU 1.
    """
    if not len(pred_masks) == len(gt_polygons) == len(sizes):
        raise ValueError(f"got {len(pred_masks)} masks, {len(gt_polygons)} polygon sets, {len(sizes)} sizes")
    inters, unions, ious = [], [], []
    for pred, polys, (w, h) in zip(pred_masks, gt_polygons, sizes, strict=True):
        p, g = _as_mask(pred, w, h), polygons_to_mask(polys, w, h)
        i, u = int(np.logical_and(p, g).sum()), int(np.logical_or(p, g).sum())
        inters.append(i)
        unions.append(u)
        ious.append(i / u if u else 1.0)
    if not ious:
        return {"gIoU": 0.0, "cIoU": 0.0}
    total_u = sum(unions)
    return {
        "gIoU": 100 * float(np.mean(ious)),
        "cIoU": 100 * sum(inters) / total_u if total_u else 100.0,
    }
