"""Dataset records: what every source-format reader returns, in absolute pixel coordinates.

A reader (COCO/LVIS JSON, classification folders, ReasonSeg JSON, the released Visual-RFT datasets) turns files on
disk into these records. `vrft.data.rows` turns records into model-facing rows (prompt text and `<answer>`
solution in a model family's coordinate convention). Records hold no model convention and no prompt text, so one
reader serves every model family. Left out: video, multi-image samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in absolute pixels of the original image


@dataclass(frozen=True)
class ClassificationRecord:
    """One image and its class name (as written in the dataset's class-name list)."""

    image: Any  # a file path (str) or a PIL.Image (released HF datasets)
    label: str
    label_id: int = -1
    image_id: str = ""


@dataclass(frozen=True)
class DetectionRecord:
    """One detection query: an image and ONE category (the paper asks one category per prompt).

    `boxes` holds every ground-truth box of that category in the image; empty means the answer is "No Objects".
    """

    image: Any
    image_id: int
    width: int
    height: int
    category_id: int
    category: str
    boxes: tuple[Box, ...] = ()


@dataclass(frozen=True)
class GroundingRecord:
    """One reasoning-grounding query: an image, an instruction and one target box (and its polygon if known)."""

    image: Any
    image_id: str
    width: int
    height: int
    instruction: str
    box: Box
    polygons: tuple[tuple[tuple[float, float], ...], ...] = field(default=())


Record = ClassificationRecord | DetectionRecord | GroundingRecord
