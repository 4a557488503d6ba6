"""Reasoning-grounding data of a synthetic world in the ReasonSeg format (`<name>.png` + `<name>.json` pairs).

`write_grounding_split(spec, split, root)` writes `spec.splits[split]` items. Each image holds 2..max objects;
the instruction names ONE target either by attribute ("the blue square", unique in the image) or by a relation to
an anchor object ("the object left of the red circle": the only object whose box lies entirely on that side of
the anchor's box). The target polygon is its box's four corners, so the reader's box is the exact box. Splits
whose name starts with `base` use base categories only; the others put a novel category in every instruction
(as target or anchor), so grounding novel categories needs the colour-shape composition. Left out: multi-object
targets, `ignore` shapes, free-form reasoning text.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from vrft.errors import ConfigError
from vrft.synthetic.scenes import Obj, make_scene, render
from vrft.synthetic.spec import WorldSpec

RELATIONS = {
    "left of": lambda t, a: t[2] <= a[0],
    "right of": lambda t, a: t[0] >= a[2],
    "above": lambda t, a: t[3] <= a[1],
    "below": lambda t, a: t[1] >= a[3],
}


def candidates(objs: list[Obj], novel: set[str] | None) -> list[tuple[Obj, str]]:
    """(target, instruction) pairs with exactly one answer; with `novel`, each names a novel category."""
    out = []
    counts: dict[str, int] = {}
    for o in objs:
        counts[o.category] = counts.get(o.category, 0) + 1
    for o in objs:
        if counts[o.category] == 1 and (novel is None or o.category in novel):
            out.append((o, f"the {o.category}"))
    for anchor in objs:
        if counts[anchor.category] != 1 or (novel is not None and anchor.category not in novel):
            continue
        for rel, test in RELATIONS.items():
            hits = [o for o in objs if o is not anchor and test(o.cells, anchor.cells)]
            if len(hits) == 1:
                out.append((hits[0], f"the object {rel} the {anchor.category}"))
    return out


def _item(name: str, box: tuple[int, int, int, int], text: str) -> dict:
    x1, y1, x2, y2 = box
    points = [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]
    shape = {
        "label": "target",
        "labels": ["target"],
        "shape_type": "polygon",
        "image_name": f"{name}.png",
        "points": points,
        "group_id": None,
        "flags": {},
    }
    return {"text": [text], "is_sentence": False, "shapes": [shape]}


def write_grounding_split(spec: WorldSpec, split: str, root: Path) -> Path:
    """Write one ReasonSeg-format split folder; return it."""
    if spec.objects[1] < 2:
        raise ConfigError(
            f"task.synthetic.objects={list(spec.objects)}: grounding needs scenes of 2 or more objects"
        )
    rng = random.Random(f"{spec.seed}/grounding/{split}")
    base = split.startswith("base")
    pool = spec.base if base else spec.categories
    novel = None if base else set(spec.novel)
    root.mkdir(parents=True, exist_ok=True)
    lo = max(2, spec.objects[0])
    written = 0
    while written < spec.splits[split]:
        first = None if base else list(spec.novel)[written % len(spec.novel)]
        objs = make_scene(spec, rng, pool, first)
        found = candidates(objs, novel) if len(objs) >= lo else []
        if not found:
            continue
        target, text = rng.choice(found)
        name = f"{written:06d}_synth"
        render(spec, objs, rng).save(root / f"{name}.png")
        (root / f"{name}.json").write_text(
            json.dumps(_item(name, target.box(spec.cell), text)), encoding="utf-8"
        )
        written += 1
    return root
