"""Detection splits of a synthetic world, in the real formats: COCO JSON + images, and ViRFT rows for SFT.

`write_coco_split(spec, split, root)` writes `root/annotations/instances_<split>.json` and `root/<split>/*.png`.
Splits whose name starts with `base` hold base categories only; the others (`novel_train`, `novel_test`) give
every image at least one novel object (cycling over the novel categories) beside random objects of any category,
so novel queries meet distractors that share their colour or their shape. Every split lists every category
(ids 1..N, `supercategory` "base" or "novel"), so ids agree across splits. Each split has its own random stream
(seed, split name): changing one split's size never changes another split.

`write_sft_rows(spec, coco_json, image_dir, root, prompt)` turns a base split into released-ViRFT-style rows
(`image`, `problem`, `solution`; `datasets.save_to_disk`): every present base category (a positive query) and
`negatives` x as many absent base categories (answer "No Objects"), so a model trained on it learns both to
localise and to reject. Left out: crowd boxes, masks, LVIS files (`vrft.data.standins` has an LVIS writer).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from vrft.data.coco import read_detection
from vrft.data.fewshot import sample_negatives
from vrft.data.prompts import PROMPTS
from vrft.data.rows import detection_solution
from vrft.data.standins import write_virft_hf
from vrft.models.codec import Norm1000Codec
from vrft.synthetic.scenes import make_scene, render
from vrft.synthetic.spec import WorldSpec


def split_categories(spec: WorldSpec, split: str) -> tuple[list[str], list[str]]:
    """(categories an image of `split` may hold, categories its first objects cycle over)."""
    if split.startswith("base"):
        return spec.base, spec.base
    return spec.categories, list(spec.novel)


def write_coco_split(spec: WorldSpec, split: str, root: Path) -> tuple[Path, Path]:
    """Write one COCO-format split of `spec.splits[split]` images; return (annotation JSON, image folder)."""
    rng = random.Random(f"{spec.seed}/{split}")
    pool, firsts = split_categories(spec, split)
    ids = {name: k + 1 for k, name in enumerate(spec.categories)}
    image_dir = root / split
    image_dir.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(spec.splits[split]):
        objs = make_scene(spec, rng, pool, firsts[i % len(firsts)])
        file_name = f"{i + 1:012d}.png"
        render(spec, objs, rng).save(image_dir / file_name)
        images.append(
            {"id": i + 1, "file_name": file_name, "width": spec.image_size, "height": spec.image_size}
        )
        for o in objs:
            x1, y1, x2, y2 = o.box(spec.cell)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": ids[o.category],
                    "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                    "area": float((x2 - x1) * (y2 - y1)),
                    "iscrowd": 0,
                }
            )
    cats = [
        {"id": ids[c], "name": c, "supercategory": "novel" if c in spec.novel else "base"}
        for c in spec.categories
    ]
    data = {
        "info": {"description": f"vrft synthetic world {spec.short_hash()} split {split}"},
        "licenses": [],
        "images": images,
        "annotations": anns,
        "categories": cats,
    }
    ann_json = root / "annotations" / f"instances_{split}.json"
    ann_json.parent.mkdir(parents=True, exist_ok=True)
    ann_json.write_text(json.dumps(data), encoding="utf-8")
    return ann_json, image_dir


def sft_queries(spec: WorldSpec, coco_json: Path, image_dir: Path) -> list:
    """Base-category queries of a split: all positives and a seeded `negatives`-ratio sample of the negatives."""
    records = read_detection(coco_json, image_dir, spec.base, query="all")
    rng = random.Random(f"{spec.seed}/sft")
    by_image: dict[int, list] = {}
    for r in records:
        by_image.setdefault(r.image_id, []).append(r)
    out = []
    for image_id in sorted(by_image):
        pos = [r for r in by_image[image_id] if r.boxes]
        neg = [r for r in by_image[image_id] if not r.boxes]
        out.extend(pos + sample_negatives(rng, neg, len(pos), spec.negatives))
    return out


def write_sft_rows(spec: WorldSpec, coco_json: Path, image_dir: Path, root: Path, prompt: str) -> Path:
    """Write the SFT rows of a base split as a released-ViRFT dataset (save_to_disk) under `root`."""
    codec = Norm1000Codec()
    template = PROMPTS.get(prompt)
    rows = []
    for r in sft_queries(spec, coco_json, image_dir):
        boxes = [codec.encode(b, r.width, r.height) for b in r.boxes]
        rows.append(
            {
                "image": r.image,
                "problem": template(category=r.category),
                "solution": detection_solution(boxes),
            }
        )
    return write_virft_hf(root, rows, fmt="disk")
