"""ReasonSeg (LISA) reader: a folder of `<name>.jpg` + `<name>.json` pairs -> `GroundingRecord`s.

Each JSON holds `"text": [instruction sentences]`, `"is_sentence": bool` and `"shapes": [{"label", "points",
"shape_type"}]`. Target shapes are those whose label does not contain "ignore" (LISA's own rule). The record's
box is the bounding box of the FIRST target polygon (the paper's `gen_box_ann.py`), in absolute pixels, clipped
to the image's edges and counted in a warning where it reaches past them (the paper's script does not clip; a
prediction, decoded from the model's 0..1000 or resized-pixel answer, never reaches past the image, so an unclipped
box could never be matched exactly); `polygons` keeps every target polygon in file order as written (the first is
the box's; the paper's mask metric rasterizes the first, LISA's masks are their union). A `rectangle` shape
becomes its 4 corners. A NaN or infinite point, a first target with no area, or one wholly outside its image is
one line naming the JSON file and shape (`vrft.data.bad` holds these rules for every reader).

`split_sentences="first"` gives one record per image with `text[0]` (the paper's evaluation); `"all"` gives
one record per sentence (the paper's training set, `gen_sft.py`). Image sizes are read from the file headers.
Left out: `is_sentence` (no record field uses it), mask rasterization (evaluation's job).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from vrft.data.bad import BadData, BadRecord, check_box
from vrft.data.images import image_size, need, read_json, require_path
from vrft.data.records import Box, GroundingRecord
from vrft.errors import ConfigError, DataError

REASONSEG_WHERE = "https://github.com/dvlab-research/LISA (the ReasonSeg dataset: train/val/test folders)"
SENTENCE_MODES = ("first", "all")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

Polygon = tuple[tuple[float, float], ...]


def read_reasonseg(
    folder: Path | str, split_sentences: str = "first", skip_bad: bool = False
) -> list[GroundingRecord]:
    """Grounding records of one ReasonSeg split folder, in file-name order.

    A malformed JSON, a missing key or a missing/corrupt image raises a `DataError` naming the file; with
    `skip_bad=True` that pair is skipped instead and the count is logged.
    """
    if split_sentences not in SENTENCE_MODES:
        raise ConfigError(f"split_sentences {split_sentences!r} is not one of: {', '.join(SENTENCE_MODES)}")
    what = "a ReasonSeg split folder of <name>.jpg + <name>.json files"
    folder = require_path(folder, what, REASONSEG_WHERE)
    json_files = sorted(folder.glob("*.json"))
    if not json_files:
        raise DataError(f"expected {folder}/*.json: {what}; get it from {REASONSEG_WHERE} (see README)")
    records: list[GroundingRecord] = []
    bad = BadData(folder, skip_bad, "ReasonSeg items")
    for json_file in json_files:
        item = bad.check(lambda f=json_file: read_reasonseg_item(f, split_sentences), catch=DataError)
        if item:
            bad.clipped += item[0].box != polygon_box(item[0].polygons[0])  # the box was clipped to the image
            records.extend(item)
    bad.report(len(json_files))
    if not records:
        raise DataError(f"{folder}: no usable ReasonSeg items")
    return records


def read_reasonseg_item(json_file: Path, split_sentences: str = "first") -> list[GroundingRecord]:
    """The records of one `<name>.json` + image pair (one, or one per sentence)."""
    item = read_json(json_file, "a ReasonSeg annotation", REASONSEG_WHERE)
    sentences = _sentences(need(item, "text", json_file), json_file)
    polygons = _target_polygons(need(item, "shapes", json_file), json_file)
    image = _image_file(json_file)
    width, height = image_size(image)
    box = _target_box(polygons[0], json_file, (width, height))
    chosen = sentences[:1] if split_sentences == "first" else sentences
    return [GroundingRecord(str(image), json_file.stem, width, height, s, box, polygons) for s in chosen]


def polygon_box(polygon: Polygon) -> Box:
    """Axis-aligned bounding box (x1, y1, x2, y2) of a polygon's points."""
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    return (min(xs), min(ys), max(xs), max(ys))


def _target_box(polygon: Polygon, json_file: Path, size: tuple[int, int]) -> Box:
    """The first target's box clipped to the image; `BadRecord` when it has no area or lies wholly outside."""
    where = f"{json_file}: the first target shape has box {polygon_box(polygon)}"
    box, _ = check_box(polygon_box(polygon), where, size)
    if box is None:
        raise BadRecord(f"{where}: no area (all its points on one line)")
    return box


def _sentences(text: Any, json_file: Path) -> list[str]:
    sentences = [text] if isinstance(text, str) else text
    if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
        raise DataError(f"{json_file}: key 'text' should be a list of instruction sentences")
    sentences = [s.strip() for s in sentences if s.strip()]
    if not sentences:
        raise DataError(f"{json_file}: key 'text' has no instruction sentence")
    return sentences


def _points(shape: dict, json_file: Path, where: str) -> Polygon:
    points = need(shape, "points", json_file, where)
    ok = isinstance(points, list) and len(points) >= 2
    ok = ok and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(v, (int, float)) for v in p)
        for p in points
    )
    if not ok:
        raise DataError(f"{json_file}: {where}.points should be a list of at least two [x, y] points")
    poly = tuple((float(x), float(y)) for x, y in points)
    if not all(math.isfinite(v) for p in poly for v in p):
        raise BadRecord(f"{json_file}: {where}.points {points!r:.100}: not a finite number")
    if shape.get("shape_type") == "rectangle" and len(poly) == 2:
        (x1, y1), (x2, y2) = poly
        poly = ((x1, y1), (x2, y1), (x2, y2), (x1, y2))
    return poly


def _target_polygons(shapes: Any, json_file: Path) -> tuple[Polygon, ...]:
    if not isinstance(shapes, list):
        raise DataError(f"{json_file}: key 'shapes' should be a list")
    polygons = []
    for i, shape in enumerate(shapes):
        label = need(shape, "label", json_file, f"shapes[{i}]")
        if "ignore" not in str(label).lower():
            polygons.append(_points(shape, json_file, f"shapes[{i}]"))
    if not polygons:
        raise DataError(f"{json_file}: no target shape in 'shapes' (none, or all labelled 'ignore')")
    return tuple(polygons)


def _image_file(json_file: Path) -> Path:
    for suffix in IMAGE_SUFFIXES:
        candidate = json_file.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    raise DataError(f"{json_file.with_suffix('.jpg')}: image file not found (beside {json_file.name})")
