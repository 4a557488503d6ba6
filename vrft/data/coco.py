"""Detection reader for COCO 2017 and LVIS v1 JSON: one `DetectionRecord` per (image, category) query.

`read_detection(ann_json, image_dir, categories, query, exist_map, kind)` asks one category per record, as the
paper does. Which categories an image is asked about is the `query` protocol:

- `gt`: the selected categories with at least one (non-crowd) box in the image;
- `all`: every selected category for every image (absent ones get no boxes, i.e. "No Objects");
- `exist_map`: the paper's model-predicted map `{image_id (str or int): [category name, ...]}`, intersected
  with the selection (names the JSON does not know are ignored and counted in a warning).

Boxes are COCO `[x, y, w, h]` turned into absolute `(x1, y1, x2, y2)`; crowd boxes and boxes of zero width
or height are left out. A box reaching past its image is clipped to the image's edges (counted in a warning). Bad
data stops the read with one line naming the file and annotation or image (`data.skip_bad=true`: the query or
image is skipped and counted instead): a non-finite or negative-size box, a box wholly outside its image (it would
otherwise train the query as "No Objects"), and an image path that is absolute or climbs out of the image folder
with `..` (the rules every reader shares, `vrft.data.bad`). COCO images are `image_dir/file_name`. LVIS v1 images have no `file_name`: the name
is the last part of `coco_url` (as the paper's LVIS script does), looked up in `image_dir/<coco_url folder>`
when that folder exists (image_dir = the COCO root, as detectron2 does; LVIS v1 val uses train2017 and
val2017 images), in the sibling folder when image_dir is another COCO split folder, else in `image_dir`.
The JSON is indexed with pycocotools. Left out: LVIS's federated negatives (`neg_category_ids`; with `all`,
every unannotated category is a negative, which LVIS evaluation ignores where not verified), masks, and
opening the images (`vrft.data.images.filter_readable` checks them).
"""

from __future__ import annotations

import contextlib
import difflib
import io
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pycocotools.coco import COCO

from vrft.data.bad import BadData, check_box, inside
from vrft.data.images import need, read_json, require_path
from vrft.data.records import Box, DetectionRecord
from vrft.errors import ConfigError, DataError

log = logging.getLogger(__name__)

QUERIES = ("gt", "all", "exist_map")
SOURCES = {
    "coco": ("COCO-format annotations (instances_*.json)", "https://cocodataset.org/#download"),
    "lvis": ("LVIS v1 annotations (lvis_v1_*.json)", "https://www.lvisdataset.org/dataset"),
}
IMAGES_WHERE = "https://cocodataset.org/#download (COCO 2017 images; LVIS v1 uses them too)"


def read_detection(
    ann_json: Path | str,
    image_dir: Path | str,
    categories: list[str] | None = None,
    query: str = "gt",
    exist_map: Mapping[Any, list[str]] | Path | str | None = None,
    kind: str = "coco",
    skip_bad: bool = False,
) -> list[DetectionRecord]:
    """Detection queries of `ann_json` for the selected `categories` (None = all), by image then selection.

    `exist_map` (a dict, or the path of its JSON file) is required by, and used only with, query="exist_map".
    """
    if kind not in SOURCES:
        raise ConfigError(f"detection kind {kind!r} is not one of: {', '.join(SOURCES)}")
    if query not in QUERIES:
        raise ConfigError(f"detection query {query!r} is not one of: {', '.join(QUERIES)}")
    if query == "exist_map" and exist_map is None:
        raise ConfigError("detection query 'exist_map' needs an exist_map ({image_id: [category, ...]})")
    ann_json, image_dir = Path(ann_json), Path(image_dir)
    data = read_json(ann_json, *SOURCES[kind])
    require_path(image_dir, "the COCO 2017 image folder", IMAGES_WHERE)
    _validate(data, ann_json, kind)
    selected = select_categories(data["categories"], categories, ann_json)
    bad = BadData(ann_json, skip_bad)
    boxes = _boxes_by_image(data, ann_json, bad)
    asked = _asker(query, exist_map, data, selected, boxes, ann_json)
    paths = _ImagePaths(image_dir, kind)
    records = []
    for i, img in enumerate(data["images"]):
        path = bad.check(lambda img=img, i=i: paths(img, f"{ann_json}: images[{i}] (id {img['id']})"), None)
        if path is None:
            continue
        for cat_id, name in asked(img["id"]):
            if (img["id"], cat_id) in bad.keys:
                continue
            found = tuple(boxes.get(img["id"], {}).get(cat_id, ()))
            records.append(
                DetectionRecord(path, img["id"], int(img["width"]), int(img["height"]), cat_id, name, found)
            )
    bad.report()
    return records


def load_exist_map(path: Path | str) -> dict[str, list[str]]:
    """Read an existence map JSON `{image_id: [category name, ...]}`; keys come back as strings."""
    data = read_json(path, "an existence map {image_id: [category, ...]}", "the Visual-RFT release")
    return _normalize_exist_map(data, str(path))


def _normalize_exist_map(data: Any, source: str) -> dict[str, list[str]]:
    if not isinstance(data, Mapping):
        raise DataError(f"{source}: an existence map must be an object {{image_id: [category, ...]}}")
    out = {}
    for key, names in data.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise DataError(f"{source}: exist_map[{key!r}] should be a list of category names")
        out[str(key)] = names
    return out


def select_categories(cats: list[dict], names: list[str] | None, ann_json: Path) -> list[tuple[int, str]]:
    """(id, name) of the named categories in the given order (None = all, in file order).

    A name the JSON does not know raises a `DataError` naming it with its close matches.
    """
    by_name = {c["name"]: c["id"] for c in cats}
    if names is None:
        return [(c["id"], c["name"]) for c in cats]
    out: list[tuple[int, str]] = []
    for name in dict.fromkeys(names):
        if name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=5, cutoff=0.6)
            hint = f"close matches: {', '.join(close)}" if close else f"{len(by_name)} categories, none close"
            raise DataError(f"{ann_json}: unknown category {name!r} ({hint})")
        out.append((by_name[name], name))
    return out


def _validate(data: Any, path: Path, kind: str) -> None:
    """Raise a `DataError` naming the file and key for the first missing key the reader relies on."""
    for key in ("images", "annotations", "categories"):
        if not isinstance(need(data, key, path, "the top-level object"), list):
            raise DataError(f"{path}: key {key!r} should be a list")
    for i, img in enumerate(data["images"]):
        for key in ("id", "width", "height"):
            need(img, key, path, f"images[{i}]")
        if "file_name" not in img:
            need(img, "coco_url" if kind == "lvis" else "file_name", path, f"images[{i}]")
    for i, ann in enumerate(data["annotations"]):
        for key in ("image_id", "category_id", "bbox"):
            need(ann, key, path, f"annotations[{i}]")
    for i, cat in enumerate(data["categories"]):
        for key in ("id", "name"):
            need(cat, key, path, f"categories[{i}]")


def _xyxy(bbox: Any, path: Path, ann: dict, size: tuple[float, float]) -> tuple[Box | None, bool]:
    """COCO [x, y, w, h] -> `check_box` of its (x1, y1, x2, y2) on the image of `size` (the shared rules)."""
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
        raise DataError(f"{path}: annotation {ann.get('id', '?')} has bbox {bbox!r}; expected [x, y, w, h]")
    x, y, w, h = (float(v) for v in bbox)
    where = f"{path}: annotation {ann.get('id', '?')} (image {ann['image_id']}) has bbox {bbox!r}"
    return check_box((x, y, x + w, y + h), where, size)


def refused_queries(data: dict, path: Path | str) -> set[tuple[Any, Any]]:
    """(image_id, category_id) of every query with a box the reader refuses, so skips it under `data.skip_bad=true`
    (evaluation leaves their ground truth out: the query was never asked)."""
    sizes = {img.get("id"): (float(img["width"]), float(img["height"])) for img in data.get("images", [])}
    out = set()
    for ann in data.get("annotations", []):
        if ann.get("iscrowd", 0) or ann.get("image_id") not in sizes:
            continue
        try:
            _xyxy(ann.get("bbox"), Path(path), ann, sizes[ann["image_id"]])
        except DataError:  # BadRecord, or a malformed bbox (which stops the read before evaluation)
            out.add((ann["image_id"], ann.get("category_id")))
    return out


def _boxes_by_image(data: dict, path: Path, bad: BadData) -> dict[int, dict[int, list[Box]]]:
    """{image_id: {category_id: [xyxy, ...]}} over non-crowd annotations, indexed by pycocotools."""
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    out: dict[int, dict[int, list[Box]]] = {}
    for image_id, anns in coco.imgToAnns.items():
        if image_id not in coco.imgs:
            raise DataError(
                f"{path}: annotation {anns[0].get('id', '?')} refers to unknown image_id {image_id}"
            )
        img = coco.imgs[image_id]
        for ann in anns:
            if ann.get("iscrowd", 0):
                continue
            size = (float(img["width"]), float(img["height"]))
            query = (image_id, ann["category_id"])
            check = lambda ann=ann, size=size: _xyxy(ann["bbox"], path, ann, size)  # noqa: E731
            box, clipped = bad.check(check, query) or (
                None,
                False,
            )  # skipped: the query goes, not just the box
            bad.clipped += clipped
            if box is not None:
                out.setdefault(image_id, {}).setdefault(ann["category_id"], []).append(box)
    return out


def _asker(
    query: str,
    exist_map: Any,
    data: dict,
    selected: list[tuple[int, str]],
    boxes: dict[int, dict[int, list[Box]]],
    ann_json: Path,
) -> Callable[[int], list[tuple[int, str]]]:
    """A function image_id -> [(category_id, name), ...] implementing the query protocol."""
    if query == "gt":
        return lambda image_id: [(c, n) for c, n in selected if c in boxes.get(image_id, {})]
    if query == "all":
        return lambda image_id: selected
    if isinstance(exist_map, (str, Path)):
        source, emap = str(exist_map), load_exist_map(exist_map)
    else:
        source, emap = "exist_map", _normalize_exist_map(exist_map, "exist_map")
    image_ids = {str(img["id"]) for img in data["images"]}
    if emap and not image_ids & set(emap):
        raise DataError(f"{source}: none of its {len(emap)} image ids are images of {ann_json}")
    known = {c["name"] for c in data["categories"]}
    unknown = {n for names in emap.values() for n in names if n not in known}
    if unknown:
        log.warning(
            "%s: %d category names unknown to %s ignored, e.g. %r",
            source,
            len(unknown),
            ann_json,
            sorted(unknown)[0],
        )
    wanted = {image_id: set(names) for image_id, names in emap.items()}
    return lambda image_id: [(c, n) for c, n in selected if n in wanted.get(str(image_id), ())]


class _ImagePaths:
    """Image file of a COCO/LVIS image entry (see the module docstring for LVIS's coco_url rule)."""

    def __init__(self, image_dir: Path, kind: str):
        self.image_dir, self.kind = image_dir, kind
        self._folders: dict[str, Path] = {}

    def _folder(self, name: str) -> Path:
        if name not in self._folders:
            d = self.image_dir
            candidates = [d / name, d if d.name == name else None, d.parent / name if name else None]
            self._folders[name] = next((c for c in candidates if c is not None and c.is_dir()), d)
        return self._folders[name]

    def __call__(self, img: dict, entry: str) -> str:
        """The image file; `BadRecord` for a name that is absolute or climbs out of the folder (`..`)."""
        if self.kind == "coco" or "file_name" in img:
            return str(self.image_dir / self._inside(str(img["file_name"]), entry))
        parts = str(img["coco_url"]).rstrip("/").split("/")
        folder = parts[-2] if len(parts) >= 2 else ""
        return str(
            self._folder(self._inside(folder, entry) if folder else "") / self._inside(parts[-1], entry)
        )

    def _inside(self, name: str, entry: str) -> str:
        return inside(name, self.image_dir, entry)
