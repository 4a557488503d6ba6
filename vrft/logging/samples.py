"""Rollout samples as a W&B table: image (with boxes drawn), prompt, completion, each reward and the total.

A row is a dict with "image" (PIL), "prompt", "completion", "rewards" ({name: float | None}), and optionally
"pred_boxes" / "gt_boxes" (absolute xyxy pixels; green = ground truth, red = prediction) and "total" (else the
NaN-aware sum of the rewards). Images are wrapped in `wandb.Image`, which works offline (the TRL path that put raw
images into a table did not). Left out: logging to anything but W&B (without a W&B logger this is a no-op).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from PIL import Image, ImageDraw

GT_COLOR = (0, 200, 0)
PRED_COLOR = (230, 0, 0)
BASE_COLUMNS = ("image", "prompt", "completion")


def _clean_box(box: Sequence[float], width: int, height: int) -> tuple[float, float, float, float] | None:
    """Sorted, clipped xyxy, or None for a malformed box (wrong length, non-finite)."""
    if len(box) != 4 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in box):
        return None
    x1, x2 = sorted((float(box[0]), float(box[2])))
    y1, y2 = sorted((float(box[1]), float(box[3])))
    x1, x2 = max(0.0, x1), min(width - 1.0, x2)
    y1, y2 = max(0.0, y1), min(height - 1.0, y2)
    return (x1, y1, x2, y2) if x1 <= x2 and y1 <= y2 else None


def draw_boxes(
    image: Image.Image,
    pred_boxes: Iterable[Sequence[float]] = (),
    gt_boxes: Iterable[Sequence[float]] = (),
) -> Image.Image:
    """A copy of `image` (RGB) with ground-truth boxes in green and predicted boxes in red on top."""
    out = image.convert("RGB")  # always a copy
    draw = ImageDraw.Draw(out)
    line = max(1, round(min(out.size) / 100))
    for boxes, color in ((gt_boxes, GT_COLOR), (pred_boxes, PRED_COLOR)):
        for box in boxes or ():
            clean = _clean_box(box, *out.size)
            if clean is not None:
                draw.rectangle(clean, outline=color, width=line)
    return out


def reward_names(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Reward names over all rows, in first-seen order."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row.get("rewards") or {}))
    return list(names)


def row_total(row: dict[str, Any]) -> float:
    """The row's "total" if given, else the sum of its rewards that are numbers and not NaN."""
    if row.get("total") is not None:
        return float(row["total"])
    values = [v for v in (row.get("rewards") or {}).values() if v is not None and not math.isnan(v)]
    return float(sum(values))


def table_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    return [*BASE_COLUMNS, *reward_names(rows), "total"]


def table_data(rows: Sequence[dict[str, Any]], wrap_image: Any = None) -> list[list[Any]]:
    """Table rows in `table_columns` order; `wrap_image` turns the drawn PIL image into a cell (wandb.Image)."""
    names = reward_names(rows)
    data = []
    for row in rows:
        image = row.get("image")
        if image is not None:
            image = draw_boxes(image, row.get("pred_boxes") or (), row.get("gt_boxes") or ())
            image = wrap_image(image) if wrap_image else image
        rewards = row.get("rewards") or {}
        data.append(
            [image, str(row.get("prompt", "")), str(row.get("completion", ""))]
            + [rewards.get(n) for n in names]
            + [row_total(row)]
        )
    return data


def log_samples(
    loggers: Sequence[Any], step: int, rows: Sequence[dict[str, Any]], key: str = "samples"
) -> None:
    """Log `rows` as a wandb.Table under `key` at `step` to every W&B logger; no-op without one or without rows."""
    from lightning.pytorch.loggers import WandbLogger

    targets = [lg for lg in loggers if isinstance(lg, WandbLogger)]
    if not targets or not rows:
        return
    import wandb

    columns = table_columns(rows)
    data = table_data(rows, wrap_image=wandb.Image)
    for logger in targets:
        logger.log_table(key=key, columns=columns, data=data, step=step)
