"""Classification data of a synthetic world in the CoOp split format (`split_zhou_SynthShapes.json` + images).

`write_class_group(spec, group, root)` writes one dataset per class group: `base` (the base categories), `novel`
(the held-out ones) or `all` (every category: a new fine-grained dataset whose classes the base model partly
knows, as the paper's few-shot datasets), each with train/val/test lists `[relpath, label, classname]` holding
`spec.splits["<group>_<part>"]` images per class (the `base` group's train list adds `novel_in_base` images of
each novel class). An image shows one object of its class at a random grid place
and size (one object per image keeps the label unambiguous). Classes differ only in colour or in shape, so worlds
with near-identical shapes (circle and ring, square and diamond) make the task fine-grained.
Left out: CoOp's few-shot pickles (few-shot sampling is `vrft.data.fewshot`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from vrft.synthetic.scenes import Obj, render
from vrft.synthetic.spec import WorldSpec

SPLIT_FILE = "split_zhou_SynthShapes.json"
PARTS = ("train", "val", "test")


def one_object(spec: WorldSpec, rng: random.Random, category: str) -> Obj:
    w, h = rng.randint(*spec.cells), rng.randint(*spec.cells)
    x, y = rng.randint(0, spec.grid - w), rng.randint(0, spec.grid - h)
    return Obj(category, (x, y, x + w, y + h))


def write_class_group(spec: WorldSpec, group: str, root: Path) -> Path:
    """Write `root/split_zhou_SynthShapes.json` and `root/images/*.png` for the `group` classes; return root."""
    classes = {"novel": list(spec.novel), "base": spec.base, "all": spec.categories}[group]
    rare = list(spec.novel) if group == "base" and spec.novel_in_base else []
    split: dict[str, list] = {}
    for part in PARTS:
        rng = random.Random(f"{spec.seed}/cls/{group}/{part}")
        per_class = spec.splits.get(f"{group}_{part}", 0)
        entries = []
        names = list(dict.fromkeys(classes + rare + [spec.coarse_name(c) for c in rare]))  # label ids
        for cls in classes + (rare if part == "train" else []):
            n = spec.novel_in_base if cls in rare else per_class
            named = round(n * spec.novel_named) if cls in rare else n
            for k in range(n):
                relpath = f"images/{cls.replace(' ', '_')}_{part}_{k:04d}.png"
                (root / "images").mkdir(parents=True, exist_ok=True)
                render(spec, [one_object(spec, rng, cls)], rng).save(root / relpath)
                name = cls if k < named else spec.coarse_name(cls)
                entries.append([relpath, names.index(name), name])
        split[part] = entries
    (root / SPLIT_FILE).write_text(json.dumps(split), encoding="utf-8")
    return root
