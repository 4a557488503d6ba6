"""Detection evaluation: model answers to COCO results, then COCO mAP (pycocotools) and LVIS AP (lvis-api).

`predictions_to_coco` parses answers with the rewards' parser (`vrft.rewards.parse`), so evaluation reads answers
exactly as training scored them, and decodes boxes with the model family's codec to absolute pixels.
`coco_map` and `lvis_map` follow the paper's protocol (spec 5.2, 5.3): per-class AP read from the libraries'
precision arrays, and the table's mAP as the arithmetic mean over the selected categories. Values are percent.
A selected category without ground truth has AP None and is left out of the mean.

Left out: the inference loop (which categories are queried per image is the caller's setting) and the mask
(segm) protocols.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from vrft.errors import ConfigError, DataError
from vrft.models.codec import Codec
from vrft.rewards.parse import completion_text, dedup_boxes, extract_answer, parse_detection


def predictions_to_coco(completions: Sequence[Any], metas: Sequence[dict], codec: Codec) -> list[dict]:
    """COCO result entries `{image_id, category_id, bbox: [x, y, w, h], score}` (absolute pixels) of the answers.

    One completion per (image, category) query; `metas` are the rows' `meta` (image_id, category_id, width,
    height). The score is the predicted Confidence. Invalid entries, unparsable answers and answers without an
    `<answer>` block give nothing; identical boxes are kept once (as the reward does).
    """
    if len(completions) != len(metas):
        raise ValueError(f"got {len(completions)} completions but {len(metas)} metas (one each)")
    out: list[dict] = []
    for c, meta in zip(completions, metas, strict=True):
        parsed = parse_detection(extract_answer(completion_text(c)))
        for b in dedup_boxes(parsed.boxes):
            if not b.valid:
                continue
            x1, y1, x2, y2 = codec.decode(b.position, meta["width"], meta["height"])
            out.append(
                {
                    "image_id": meta["image_id"],
                    "category_id": meta["category_id"],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(b.confidence),
                }
            )
    return out


def _load_json(src: Any, what: str) -> Any:
    """A JSON file's content, or `src` itself when it is already loaded."""
    if not isinstance(src, (str, Path)):
        return src
    path = Path(src)
    if not path.is_file():
        raise DataError(f"{what} file not found: {path}")
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{what} file {path} is not valid JSON: {err}") from None


def _detections(src: Any, image_ids: set) -> list[dict]:
    """A private copy of the detections (the libraries write into them), checked against the ground truth."""
    dets = _load_json(src, "detections")
    if not isinstance(dets, list):
        raise DataError(f"detections must be a list of COCO result dicts, got {type(dets).__name__}")
    unknown = sorted({d.get("image_id") for d in dets} - image_ids, key=str)
    if unknown:
        raise DataError(f"detections name image ids absent from the ground truth: {unknown[:10]}")
    return copy.deepcopy(dets)


def _select(categories: list[dict], names: Sequence[str] | None) -> list[tuple[int, str]]:
    """(id, name) of the selected categories, in the order given (all categories when `names` is None)."""
    by_name = {c["name"]: c["id"] for c in categories}
    if names is None:
        return [(c["id"], c["name"]) for c in categories]
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ConfigError(
            f"categories {missing} are not in the ground truth; known: {sorted(by_name)[:20]}..."
        )
    return [(by_name[n], n) for n in names]


def _ap(precision: np.ndarray) -> float | None:
    """Mean of the entries > -1, in percent; None when every entry is -1 (no ground truth)."""
    valid = precision[precision > -1]
    return float(valid.mean() * 100) if valid.size else None


def _summary(selected: list[tuple[int, str]], ap: list[float | None], ap50: list[float | None]) -> dict:
    """mAP / AP50 as means over the selected categories that have ground truth, with the per-class values."""

    def mean(values: list[float | None]) -> float:
        kept = [v for v in values if v is not None]
        return float(np.mean(kept)) if kept else float("nan")

    names = [n for _, n in selected]
    return {
        "mAP": mean(ap),
        "AP50": mean(ap50),
        "per_class": dict(zip(names, ap, strict=True)),
        "per_class_AP50": dict(zip(names, ap50, strict=True)),
    }


def _coco_gt(gt: Any) -> COCO:
    coco = COCO()
    coco.dataset = _load_json(gt, "COCO ground-truth")
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def coco_map(gt_json: Any, detections: Any, category_names: Sequence[str] | None = None) -> dict:
    """COCO bbox AP of `detections` (a list of result dicts or a JSON path) against `gt_json` (a path or dict).

    pycocotools `COCOeval(bbox)` over every ground-truth image; per-class AP = precision over IoU 0.50:0.95 and
    all recall points, area `all`, maxDets 100 (entries of -1 left out); AP50 the same at IoU 0.50. Returns
    `{"mAP", "AP50", "per_class", "per_class_AP50"}` in percent (spec 5.2). No detections give 0.
    """
    gt = _coco_gt(gt_json)
    selected = _select(gt.dataset.get("categories", []), category_names)
    dets = _detections(detections, set(gt.getImgIds()))
    has_gt = [bool(gt.getAnnIds(catIds=[cid])) for cid, _ in selected]
    if not dets:
        zeros = [0.0 if h else None for h in has_gt]
        return _summary(selected, zeros, list(zeros))
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(dets), iouType="bbox")
        ev.params.catIds = [cid for cid, _ in selected]
        ev.evaluate()
        ev.accumulate()
    p = ev.params
    prec = ev.eval["precision"][:, :, :, p.areaRngLbl.index("all"), p.maxDets.index(100)]  # T, R, K
    ap = [_ap(prec[:, :, k]) for k in range(len(selected))]
    ap50 = [_ap(prec[0, :, k]) for k in range(len(selected))]
    return _summary(selected, ap, ap50)


class _NumpyCompat:
    """numpy with the `np.float` alias that lvis-api 0.5.3 still uses (removed in numpy 1.24)."""

    float = float

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


def _lvis_api():
    try:
        import lvis.eval as lvis_eval
        from lvis import LVIS, LVISEval, LVISResults
    except ImportError:
        raise ConfigError("lvis_map needs the lvis package: pip install 'vrft[lvis]'") from None
    if not hasattr(lvis_eval.np, "float"):
        lvis_eval.np = _NumpyCompat()  # only lvis.eval's own name for numpy changes
    return LVIS, LVISEval, LVISResults


def lvis_map(gt_json: Any, detections: Any, category_names: Sequence[str] | None = None) -> dict:
    """LVIS bbox AP with the LVIS protocol, through the official LVIS API (`lvis` package, lvis-api).

    lvis-api is the reference implementation of LVIS's federated evaluation (negative and not-exhaustive
    category lists per image, up to 300 detections per image) and the library the paper's LVIS notebook used, so
    its numbers are comparable with the paper's. `LVISResults(max_dets=300)` and `LVISEval(bbox)`; per-class AP =
    mean of `precision[:, :, k, :]` over IoU thresholds, recall points and all four area slices (the paper's
    rule, spec 5.3; entries of -1 left out); AP50 the same at IoU 0.50. Returns the keys of `coco_map`.
    """
    LVIS, LVISEval, LVISResults = _lvis_api()

    class _LVISData(LVIS):  # lvis-api reads only paths; this also takes an already-loaded dict
        def _load_json(self, path: Any) -> Any:
            return _load_json(path, "LVIS ground-truth")

    gt = _LVISData(gt_json)
    selected = _select(gt.dataset.get("categories", []), category_names)
    dets = _detections(detections, set(gt.get_img_ids()))
    has_gt = [bool(gt.get_ann_ids(cat_ids=[cid])) for cid, _ in selected]
    if not dets:
        zeros = [0.0 if h else None for h in has_gt]
        return _summary(selected, zeros, list(zeros))
    ev = LVISEval(gt, LVISResults(gt, dets, max_dets=300), iou_type="bbox")
    ev.params.cat_ids = [cid for cid, _ in selected]
    ev.evaluate()
    ev.accumulate()
    prec = ev.eval["precision"]  # T, R, K, A
    ap = [_ap(prec[:, :, k, :]) for k in range(len(selected))]
    ap50 = [_ap(prec[0, :, k, :]) for k in range(len(selected))]
    return _summary(selected, ap, ap50)
