"""Detection stand-ins: small COCO 2017 and LVIS v1 datasets (JSON + JPEG images) with exact boxes.

Image i shows 1-3 non-overlapping objects in their category's style (`_draw.named_style`: a name like "red
circle" is drawn as one); the first is of category `i % len(categories)` (so every category appears in at
least `n_images // len(categories)` images), the others are random. COCO category ids are
non-contiguous (1, 3, 5, ...) like the real ones; LVIS ids are 1..n with frequency "r". Every image is fully
annotated, so LVIS `neg_category_ids` lists every absent category. Left out: crowd boxes, masks beyond the
object polygon, LVIS images from train2017 (all stand-in images live in one folder).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from vrft.data.standins._draw import (
    canvas,
    draw_object,
    layout,
    named_style,
    polygon,
    polygon_area,
    save_jpeg,
)
from vrft.errors import ConfigError


def _scenes(n_images: int, categories: list[str], seed: int) -> list[tuple[Any, list[tuple[int, list]]]]:
    """[(image, [(category index, polygon points, (x1, y1, x2, y2))...])] for n_images seeded scenes."""
    if not categories:
        raise ConfigError("stand-in detection data needs at least one category")
    rng = random.Random(seed)
    scenes = []
    for i in range(n_images):
        img = canvas(rng)
        boxes = layout(rng, *img.size, rng.randint(1, 3))
        objects = []
        for k, box in enumerate(boxes):
            cat = i % len(categories) if k == 0 else rng.randrange(len(categories))
            _, rgb, shape = named_style(categories[cat], cat)
            points = polygon(shape, box)
            draw_object(img, points, rgb)
            objects.append((cat, points, box))
        scenes.append((img, objects))
    return scenes


def _annotation(ann_id: int, image_id: int, category_id: int, points: list, box: tuple) -> dict:
    x1, y1, x2, y2 = box
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
        "area": polygon_area(points),
        "segmentation": [[round(v, 2) for p in points for v in p]],
    }


def _write(ann_json: Path, data: dict) -> None:
    ann_json.parent.mkdir(parents=True, exist_ok=True)
    ann_json.write_text(json.dumps(data), encoding="utf-8")


def write_coco(
    root: Path | str, n_images: int, categories: list[str], seed: int, split: str = "val2017"
) -> tuple[Path, Path]:
    """Write `root/annotations/instances_<split>.json` and `root/<split>/<id:012d>.jpg`.

    Returns (annotation json, image dir).
    """
    root = Path(root)
    image_dir = root / split
    cat_ids = [2 * k + 1 for k in range(len(categories))]
    images, anns = [], []
    for i, (img, objects) in enumerate(_scenes(n_images, categories, seed)):
        image_id, file_name = i + 1, f"{i + 1:012d}.jpg"
        save_jpeg(img, image_dir / file_name)
        url = f"http://images.cocodataset.org/{split}/{file_name}"
        images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "width": img.width,
                "height": img.height,
                "coco_url": url,
            }
        )
        for cat, points, box in objects:
            anns.append({**_annotation(len(anns) + 1, image_id, cat_ids[cat], points, box), "iscrowd": 0})
    cats = [
        {"id": cid, "name": name, "supercategory": "standin"}
        for cid, name in zip(cat_ids, categories, strict=True)
    ]
    data = {
        "info": {"description": "vrft stand-in (COCO format)"},
        "licenses": [],
        "images": images,
        "annotations": anns,
        "categories": cats,
    }
    ann_json = root / "annotations" / f"instances_{split}.json"
    _write(ann_json, data)
    return ann_json, image_dir


def write_lvis(
    root: Path | str, n_images: int, categories: list[str], seed: int, split: str = "val"
) -> tuple[Path, Path]:
    """Write `root/annotations/lvis_v1_<split>.json` and `root/<split>2017/<id:012d>.jpg`.

    Images are named by `coco_url` (no `file_name`, as in LVIS v1). Returns (annotation json, image dir).
    """
    root = Path(root)
    folder = f"{split}2017"
    image_dir = root / folder
    images, anns = [], []
    counts = {k: set() for k in range(len(categories))}
    for i, (img, objects) in enumerate(_scenes(n_images, categories, seed)):
        image_id, file_name = i + 1, f"{i + 1:012d}.jpg"
        save_jpeg(img, image_dir / file_name)
        present = {cat for cat, _, _ in objects}
        images.append(
            {
                "id": image_id,
                "width": img.width,
                "height": img.height,
                "license": 1,
                "date_captured": "",
                "coco_url": f"http://images.cocodataset.org/{folder}/{file_name}",
                "flickr_url": f"http://farm.staticflickr.com/{file_name}",
                "neg_category_ids": [k + 1 for k in range(len(categories)) if k not in present],
                "not_exhaustive_category_ids": [],
            }
        )
        for cat, points, box in objects:
            anns.append(_annotation(len(anns) + 1, image_id, cat + 1, points, box))
            counts[cat].add(image_id)
    cats = [
        {
            "id": k + 1,
            "name": name,
            "synset": f"{name}.n.01",
            "synonyms": [name],
            "def": "",
            "frequency": "r",
            "image_count": len(counts[k]),
            "instance_count": sum(a["category_id"] == k + 1 for a in anns),
        }
        for k, name in enumerate(categories)
    ]
    data = {
        "info": {"description": "vrft stand-in (LVIS v1 format)"},
        "licenses": [],
        "images": images,
        "annotations": anns,
        "categories": cats,
    }
    ann_json = root / "annotations" / f"lvis_v1_{split}.json"
    _write(ann_json, data)
    return ann_json, image_dir
