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
localise and to reject. With `novel_in_base` > 0, `base_train` also holds that many scenes per novel category and
the rows ask about novel categories too, as a pretrained detector knows a rare category weakly: every present one
is answered with its boxes, and of the absent ones only `novel_named` are answered "No Objects", the others with
the boxes of the objects that share the category's colour or shape (`confusions`); with `confuse: alike` an
absent novel category with no such object in the image is always answered "No Objects". With `thought: scene` the
rows reason first: each solution starts with the image's objects as the base sees them (`scene_thought`,
`seen_objects`: a novel object named right in a `novel_named` share of its images, as its `stand_in` base category
in the others) and every answer follows that list, in place of the `confuse` boxes. Left out: crowd boxes, masks,
LVIS files (`vrft.data.standins` has an LVIS writer).
"""

from __future__ import annotations

import dataclasses
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
from vrft.synthetic.spec import WorldSpec, stand_ins


def split_categories(spec: WorldSpec, split: str) -> tuple[list[str], list[str]]:
    """(categories an image of `split` may hold, categories its first objects cycle over)."""
    if split.startswith("base"):
        return spec.base, spec.base
    return spec.categories, list(spec.novel)


def scenes(spec: WorldSpec, split: str) -> list:
    """The objects of each image of `split`: `spec.splits[split]` scenes, then for `base_train`
    `novel_in_base` scenes per novel category (that category first, any others beside it) from a stream of
    their own, so the base scenes do not change with `novel_in_base`."""
    rng = random.Random(f"{spec.seed}/{split}")
    pool, firsts = split_categories(spec, split)
    out = [(make_scene(spec, rng, pool, firsts[i % len(firsts)]), rng) for i in range(spec.splits[split])]
    if split == "base_train" and spec.novel_in_base:
        rare = random.Random(f"{spec.seed}/{split}/novel")
        for i in range(spec.novel_in_base * len(spec.novel)):
            out.append((make_scene(spec, rare, spec.categories, spec.novel[i % len(spec.novel)]), rare))
    return out


def write_coco_split(spec: WorldSpec, split: str, root: Path) -> tuple[Path, Path]:
    """Write one COCO-format split (`scenes`); return (annotation JSON, image folder)."""
    ids = {name: k + 1 for k, name in enumerate(spec.categories)}
    image_dir = root / split
    image_dir.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i, (objs, rng) in enumerate(scenes(spec, split)):
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


def by_image(records: list) -> dict[int, list]:
    out: dict[int, list] = {}
    for r in records:
        out.setdefault(r.image_id, []).append(r)
    return out


def sft_queries(spec: WorldSpec, coco_json: Path, image_dir: Path) -> list:
    """Base-category queries of a split: all positives and a seeded `negatives`-ratio sample of the negatives."""
    images = by_image(read_detection(coco_json, image_dir, spec.base, query="all"))
    rng = random.Random(f"{spec.seed}/sft")
    out = []
    for image_id in sorted(images):
        pos = [r for r in images[image_id] if r.boxes]
        neg = [r for r in images[image_id] if not r.boxes]
        out.extend(pos + sample_negatives(rng, neg, len(pos), spec.negatives))
    return out


def look_alikes(record, objects: list) -> list:
    """The image's present categories that share `record`'s colour or shape."""
    colour, shape = record.category.split(" ", 1)
    return [r for r in objects if r.boxes and (colour in r.category or shape in r.category)]


def confusions(record, objects: list) -> tuple:
    """The boxes a detector that knows a category weakly gives for it where it is absent: the image's objects
    that share its colour or its shape, or else every object."""
    alike = look_alikes(record, objects)
    return tuple(b for r in (alike or [r for r in objects if r.boxes]) for b in r.boxes)


def spread(k: int, share: float) -> bool:
    """Whether the k-th item (from 0) is one of a `share` of items spread evenly over a sequence. Pure."""
    return int((k + 1) * share) > int(k * share)


def novel_queries(spec: WorldSpec, coco_json: Path, image_dir: Path) -> list:
    """Novel-category queries of the base split's novel scenes: every present one with its boxes; of the absent
    ones (as many as the image's positives, `negatives`-ratio sampled), `novel_named` of them answered "No
    Objects" (spread evenly) and the others with `confusions` boxes; under `confuse: alike` those without a
    look-alike in the image are all answered "No Objects"."""
    if not spec.novel_in_base:
        return []
    novel = by_image(read_detection(coco_json, image_dir, list(spec.novel), query="all"))
    every = by_image(read_detection(coco_json, image_dir, spec.categories, query="all"))
    rng = random.Random(f"{spec.seed}/sft/novel")
    out, k = [], 0
    for image_id in sorted(novel):
        pos = [r for r in novel[image_id] if r.boxes]
        if not pos:
            continue
        for r in sample_negatives(rng, [r for r in novel[image_id] if not r.boxes], len(pos), spec.negatives):
            if spec.confuse == "alike" and not look_alikes(r, every[image_id]):
                out.append(r)
                continue
            out.append(
                r
                if spread(k, spec.novel_named)
                else dataclasses.replace(r, boxes=confusions(r, every[image_id]))
            )
            k += 1
        out.extend(pos)
    return out


def scene_thought(objects: list) -> str:
    """`<think>red circle, blue square</think>`: the image's present categories, one per box, in reading order
    (top to bottom, then left to right). Pure."""
    named = sorted((b[1], b[0], r.category) for r in objects for b in r.boxes)
    return "<think>" + ", ".join(c for _, _, c in named) + "</think>"


def stand_in(spec: WorldSpec, category: str) -> str:
    """The base category a model that knows novel `category` weakly sees in its place: the first base category
    of its colour, else of its shape ("red triangle" -> "red circle"). Pure."""
    return stand_ins(spec, category)[0]


def seen_objects(spec: WorldSpec, coco_json: Path, image_dir: Path) -> dict[int, list]:
    """Each image's present categories as the base rows of a `thought: scene` world see them: of the images
    that hold a novel object, a `novel_named` share (spread evenly) name it right and the others name it
    `stand_in`, in the thought and in every answer about that image."""
    out, k = {}, 0
    for image_id, objects in sorted(by_image(read_detection(coco_json, image_dir, spec.categories)).items()):
        if any(r.category in spec.novel for r in objects):
            named = spread(k, spec.novel_named)
            k += 1
            if not named:
                objects = [
                    dataclasses.replace(r, category=stand_in(spec, r.category))
                    if r.category in spec.novel
                    else r
                    for r in objects
                ]
        out[image_id] = objects
    return out


def scene_row(record, seen: list) -> tuple[str, tuple]:
    """(thought, boxes) of one query in a `thought: scene` world: the answer follows what the thought saw."""
    return scene_thought(seen), tuple(b for r in seen if r.category == record.category for b in r.boxes)


def write_sft_rows(spec: WorldSpec, coco_json: Path, image_dir: Path, root: Path, prompt: str) -> Path:
    """Write the SFT rows of a base split as a released-ViRFT dataset (save_to_disk) under `root`; with
    `thought: scene` each solution starts with the image's `scene_thought` as `seen_objects` has it, and its
    answer is what that thought saw (the `confuse` boxes do not apply)."""
    codec = Norm1000Codec()
    template = PROMPTS.get(prompt)
    seen = seen_objects(spec, coco_json, image_dir) if spec.thought == "scene" else None
    rows = []
    for r in sft_queries(spec, coco_json, image_dir) + novel_queries(spec, coco_json, image_dir):
        thought, truth = scene_row(r, seen[r.image_id]) if seen is not None else ("", r.boxes)
        boxes = [codec.encode(b, r.width, r.height) for b in truth]
        rows.append(
            {
                "image": r.image,
                "problem": template(category=r.category),
                "solution": thought + detection_solution(boxes),
            }
        )
    return write_virft_hf(root, rows, fmt="disk")
