"""What a synthetic world is: a typed, validated, hashable recipe (`WorldSpec`) built from a task's `synthetic:` block.

A world is a set of coloured shapes on a square image, placed on a grid of `grid` x `grid` cells so that every
box edge falls on a cell edge (with 112-pixel images and `grid: 4`, a cell is one 28-pixel merged Qwen2-VL vision
token and box coordinates are multiples of 250 in 0..1000 units). Categories are `"<colour> <shape>"` for every
colour x shape pair; the `novel` ones are held out of every base split, so each novel category is a new
combination of a colour and a shape that base categories show separately; `novel_in_base` > 0 lets each novel
category appear in that many base training images, named right in only a `novel_named` share of them (a
category a pretrained model knows weakly, as LVIS's rare ones): a classification image is otherwise named by the
coarse "<colour> shape" (`coarse_name`), and a detection query about an absent novel category is otherwise
answered with a look-alike's boxes, or with `thought: scene` the novel object is named as a base category of its
colour (`vrft.synthetic.detection`). `short_hash()` names the world's
cache folder, so changing any field writes a new world. Left out: drawing (`vrft.synthetic.scenes`) and the
files of each task family (`vrft.synthetic.detection`, `.classification`, `.grounding`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from vrft.errors import ConfigError

KINDS = ("detection", "classification", "grounding")
LIGHTING = ("gradient", "flat")
RGB = {
    "red": (215, 35, 35),
    "green": (30, 160, 50),
    "blue": (35, 70, 215),
    "yellow": (240, 205, 20),
    "purple": (140, 50, 175),
    "orange": (245, 125, 20),
    "cyan": (30, 190, 205),
    "white": (250, 250, 250),
}
SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring")
# Bump when drawing or file layout changes in a way the fields do not capture, so cached worlds are rewritten.
RECIPE_VERSION = 1
CONFUSE = ("any", "alike")
"""Which absent novel-category queries of the base rows may be answered with other objects' boxes: `any` (every
one, with the look-alikes' boxes or else every object's) or `alike` (only where an object sharing the category's
colour or shape is in the image; the others are answered "No Objects")."""
THOUGHTS = ("none", "scene")
"""What the base SFT rows of a detection world reason before answering: `none` (the placeholder `<think>...</think>`
of `algo.sft_think`) or `scene` (the image's objects in reading order, `<think>red circle, blue square</think>`,
so the answer can follow from a list the model wrote instead of from the pixels alone). Classification and
grounding worlds take `none` only."""
LATER_DEFAULTS = {"confuse": "any", "thought": "none"}
"""Keys added after worlds and bases were first cached: at these values they are left out of `short_hash()` and of a
base model's recipe (`vrft.synthetic.base.recipe`), so what was built before them keeps its name."""


@dataclass(frozen=True)
class WorldSpec:
    """The full recipe of one world; see the task files' `synthetic:` blocks for the meaning of each field."""

    kind: str = "detection"
    seed: int = 0
    image_size: int = 112
    grid: int = 4
    colors: tuple[str, ...] = ("red", "green", "blue", "yellow")
    shapes: tuple[str, ...] = ("circle", "square", "triangle")
    novel: tuple[str, ...] = ("red triangle", "green circle", "blue square")
    objects: tuple[int, int] = (1, 3)
    cells: tuple[int, int] = (1, 2)
    lighting: str = "gradient"
    noise: float = 0.0
    splits: dict[str, int] = field(default_factory=dict)
    negatives: float = 1.0
    novel_in_base: int = 0
    novel_named: float = 1.0
    confuse: str = "any"
    thought: str = "none"

    def __post_init__(self) -> None:
        for name in ("colors", "shapes", "novel", "objects", "cells"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "splits", {str(k): int(v) for k, v in dict(self.splits).items()})
        _validate(self)

    @property
    def categories(self) -> list[str]:
        """Every category, colour-major: "red circle", "red square", ..."""
        return [f"{c} {s}" for c in self.colors for s in self.shapes]

    @property
    def base(self) -> list[str]:
        return [c for c in self.categories if c not in self.novel]

    @property
    def cell(self) -> int:
        """Cell size in pixels."""
        return self.image_size // self.grid

    def coarse_name(self, category: str) -> str:
        """The coarse name a novel class goes by where its images are not named right: "<colour> shape"."""
        return f"{category.split(' ', 1)[0]} shape"

    def short_hash(self) -> str:
        """10 hex digits of the recipe; the `LATER_DEFAULTS` keys count only when not at their defaults."""
        fields = dataclasses.asdict(self)
        for key, default in LATER_DEFAULTS.items():
            if fields[key] == default:
                del fields[key]
        blob = json.dumps({"recipe": RECIPE_VERSION, **fields}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]


def _validate(s: WorldSpec) -> None:
    cats = set(s.categories)
    lo, hi = s.objects
    checks = (
        ("kind", s.kind in KINDS, f"one of {', '.join(KINDS)}"),
        ("lighting", s.lighting in LIGHTING, f"one of {', '.join(LIGHTING)}"),
        ("colors", bool(s.colors) and all(c in RGB for c in s.colors), f"names from {', '.join(RGB)}"),
        ("shapes", bool(s.shapes) and all(x in SHAPES for x in s.shapes), f"names from {', '.join(SHAPES)}"),
        ("novel", all(n in cats for n in s.novel), "'<colour> <shape>' names of the world's categories"),
        ("novel", len(set(s.novel)) < len(cats), "must leave at least one base category"),
        ("grid", s.grid >= 2 and s.image_size % s.grid == 0, "at least 2 and must divide image_size"),
        ("image_size", s.image_size >= 28, "at least 28 pixels"),
        ("objects", len(s.objects) == 2 and 1 <= lo <= hi, "[min, max] with 1 <= min <= max"),
        (
            "cells",
            len(s.cells) == 2 and 1 <= s.cells[0] <= s.cells[1] <= s.grid,
            "[min, max] within the grid",
        ),
        ("noise", s.noise >= 0, "a non-negative pixel standard deviation"),
        ("negatives", s.negatives >= 0, "a non-negative ratio of negative to positive queries"),
        ("novel_in_base", s.novel_in_base >= 0, "a non-negative number of images per novel category"),
        ("novel_named", 0 <= s.novel_named <= 1, "the share (0..1) of novel_in_base images named right"),
        ("confuse", s.confuse in CONFUSE, f"one of {', '.join(CONFUSE)}"),
        ("thought", s.thought in THOUGHTS, f"one of {', '.join(THOUGHTS)}"),
        ("thought", s.thought == "none" or s.kind == "detection", "scene applies to detection worlds only"),
        (
            "thought",
            s.thought == "none" or all(stand_ins(s, n) for n in s.novel if n in cats),
            "scene needs a base category sharing each novel one's colour or shape (its stand-in)",
        ),
        ("splits", all(n >= 0 for n in s.splits.values()), "non-negative image counts"),
    )
    for key, ok, allowed in checks:
        if not ok:
            raise ConfigError(f"task.synthetic.{key}={getattr(s, key)!r} is invalid: {allowed}")


def stand_ins(spec: WorldSpec, category: str) -> list[str]:
    """The base categories a model that knows `category` weakly may see in its place: those of its colour, else
    those of its shape (`vrft.synthetic.detection.stand_in` takes the first). Pure."""
    colour, shape = category.split(" ", 1)
    same = [c for c in spec.base if c.split(" ", 1)[0] == colour]
    return same or [c for c in spec.base if c.split(" ", 1)[1] == shape]


def world_spec(block: dict[str, Any] | None) -> WorldSpec:
    """A `WorldSpec` from a task's `synthetic:` mapping; an unknown key raises a `ConfigError` naming it."""
    block = dict(block or {})
    known = {f.name for f in dataclasses.fields(WorldSpec)}
    unknown = sorted(set(block) - known)
    if unknown:
        raise ConfigError(
            f"task.synthetic.{unknown[0]} is not a world setting; known: {', '.join(sorted(known))}"
        )
    return WorldSpec(**block)
