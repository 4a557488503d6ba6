"""Grounding stand-in: a ReasonSeg-style folder of `<name>.jpg` + `<name>.json` pairs.

Each image shows 2-3 objects of distinct styles; one is the target. Its JSON has 1-3 instruction sentences
naming the target by colour and shape (`is_sentence` true for question-like ones), a "target" polygon, and
sometimes an "ignore" polygon around another object, listed before or after the target. Left out: multi-part
targets, real reasoning text.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from vrft.data.standins._draw import canvas, draw_object, layout, polygon, save_jpeg, style

PHRASES = ("the {color} {shape}",)
SENTENCES = (
    "Which object in this picture is {color} and shaped like a {shape}?",
    "Please find the {shape} whose colour is {color}.",
    "Something {color} with the outline of a {shape} is in the image; what is it?",
)


def _shape(label: str, points: list, image_name: str) -> dict:
    return {
        "label": label,
        "labels": [label],
        "shape_type": "polygon",
        "image_name": image_name,
        "points": [[round(x, 2), round(y, 2)] for x, y in points],
        "group_id": None,
        "flags": {},
    }


def _texts(rng: random.Random, color: str, shape: str) -> tuple[list[str], bool]:
    is_sentence = rng.random() < 0.6
    pool = SENTENCES if is_sentence else PHRASES + SENTENCES[:1]
    n = rng.randint(1, 3)
    picks = [pool[rng.randrange(len(pool))] for _ in range(n)]
    return [t.format(color=color, shape=shape) for t in picks], is_sentence


def write_reasonseg(root: Path | str, n: int, seed: int) -> Path:
    """Write `n` ReasonSeg items (`<id>_standin.jpg` + `.json`) into `root`; return root."""
    root, rng = Path(root), random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = canvas(rng)
        boxes = layout(rng, *img.size, rng.randint(2, 3))
        styles = rng.sample(range(48), len(boxes))
        polys = []
        for s, box in zip(styles, boxes, strict=True):
            _, rgb, shape = style(s)
            polys.append(polygon(shape, box))
            draw_object(img, polys[-1], rgb)
        name = f"{i:06d}_standin"
        color, _, shape = style(styles[0])
        texts, is_sentence = _texts(rng, color, shape)
        shapes = [_shape("target", polys[0], f"{name}.jpg")]
        if rng.random() < 0.4:
            ignore = _shape("ignore", polys[1], f"{name}.jpg")
            shapes = [ignore, *shapes] if rng.random() < 0.5 else [*shapes, ignore]
        save_jpeg(img, root / f"{name}.jpg")
        item = {"text": texts, "is_sentence": is_sentence, "shapes": shapes}
        (root / f"{name}.json").write_text(json.dumps(item), encoding="utf-8")
    return root
