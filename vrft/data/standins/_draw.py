"""Drawing for the stand-in datasets: one colour/shape style per class, objects with exact boxes and polygons.

A style is (colour name, RGB, shape); class i gets `style(i)`, so 48 classes look distinct and further ones
repeat; a class name that names a colour or shape ("red circle") gets that colour or shape (`named_style`).
Objects are filled polygons (an ellipse is a 16-gon), so the polygon's bounding box is exactly the object's
pixels: a box (x1, y1, x2, y2) covers pixels x1..x2-1, y1..y2-1 (COCO's convention).
Backgrounds keep clear of every object colour. Left out: textures, occlusion (objects never overlap),
photographic realism.
"""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

from PIL import Image, ImageDraw

COLORS = (
    ("red", (220, 40, 40)),
    ("green", (40, 170, 60)),
    ("blue", (40, 80, 220)),
    ("yellow", (235, 200, 30)),
    ("purple", (140, 60, 180)),
    ("orange", (240, 130, 30)),
    ("cyan", (40, 190, 200)),
    ("pink", (240, 120, 180)),
    ("brown", (130, 80, 40)),
    ("black", (20, 20, 20)),
    ("white", (250, 250, 250)),
    ("gray", (128, 128, 128)),
)
SHAPES = ("rectangle", "ellipse", "triangle", "diamond")

IntBox = tuple[int, int, int, int]
Polygon = list[tuple[float, float]]


def style(i: int) -> tuple[str, tuple[int, int, int], str]:
    """(colour name, RGB, shape) of class index i; distinct for i < 48."""
    name, rgb = COLORS[i % len(COLORS)]
    return name, rgb, SHAPES[(i + i // len(COLORS)) % len(SHAPES)]


SHAPE_WORDS = {
    "circle": "ellipse",
    "ellipse": "ellipse",
    "oval": "ellipse",
    "disc": "ellipse",
    "square": "rectangle",
    "rectangle": "rectangle",
    "box": "rectangle",
    "triangle": "triangle",
    "diamond": "diamond",
}


def named_style(name: str, i: int) -> tuple[str, tuple[int, int, int], str]:
    """`style(i)`, overridden by the colour and/or shape a class name mentions ("red circle", "square")."""
    color, rgb, shape = style(i)
    palette = dict(COLORS)
    for word in re.findall(r"[a-z]+", name.lower()):
        if word in palette:
            color, rgb = word, palette[word]
        shape = SHAPE_WORDS.get(word, shape)
    return color, rgb, shape


def polygon(shape: str, box: IntBox) -> Polygon:
    """Vertices of `shape` filling `box` (pixels x1..x2-1, y1..y2-1); their bounding box spans them."""
    x1, y1, x2, y2 = box
    xr, yb = x2 - 1, y2 - 1
    mx, my = (x1 + xr) / 2, (y1 + yb) / 2
    if shape == "rectangle":
        return [(x1, y1), (xr, y1), (xr, yb), (x1, yb)]
    if shape == "triangle":
        return [(x1, yb), (xr, yb), (mx, y1)]
    if shape == "diamond":
        return [(mx, y1), (xr, my), (mx, yb), (x1, my)]
    # ellipse: 16 vertices including the four extremes
    rx, ry = (xr - x1) / 2, (yb - y1) / 2
    return [
        (mx + rx * math.cos(2 * math.pi * k / 16), my + ry * math.sin(2 * math.pi * k / 16))
        for k in range(16)
    ]


def polygon_area(points: Polygon) -> float:
    """Shoelace area of a simple polygon."""
    n = len(points)
    return (
        abs(
            sum(
                points[k][0] * points[(k + 1) % n][1] - points[(k + 1) % n][0] * points[k][1]
                for k in range(n)
            )
        )
        / 2
    )


def canvas(rng: random.Random, size_range: tuple[int, int] = (96, 160)) -> Image.Image:
    """A plain random background of random size, far (L1 >= 100) from every object colour."""
    w, h = rng.randint(*size_range), rng.randint(*size_range)
    while True:
        rgb = tuple(rng.randint(40, 215) for _ in range(3))
        if min(sum(abs(a - b) for a, b in zip(rgb, c, strict=True)) for _, c in COLORS) >= 100:
            return Image.new("RGB", (w, h), rgb)


def draw_object(img: Image.Image, points: Polygon, rgb: tuple[int, int, int]) -> None:
    ImageDraw.Draw(img).polygon(points, fill=rgb)


def layout(rng: random.Random, width: int, height: int, n: int) -> list[IntBox]:
    """Up to 4 non-overlapping boxes, one per cell of a 2x2 grid, each 45-90% of its cell."""
    cells = rng.sample(range(4), min(n, 4))
    cw, ch = width // 2, height // 2
    boxes = []
    for cell in cells:
        cx, cy = (cell % 2) * cw, (cell // 2) * ch
        bw, bh = rng.randint(int(0.45 * cw), int(0.9 * cw)), rng.randint(int(0.45 * ch), int(0.9 * ch))
        x1, y1 = cx + rng.randint(0, cw - bw), cy + rng.randint(0, ch - bh)
        boxes.append((x1, y1, x1 + bw, y1 + bh))
    return boxes


def single_object_image(rng: random.Random, class_index: int, class_name: str = "") -> Image.Image:
    """One object of the class's style at a random place and size (the classification stand-ins)."""
    img = canvas(rng)
    w, h = img.size
    bw, bh = rng.randint(w // 3, w - 8), rng.randint(h // 3, h - 8)
    x1, y1 = rng.randint(0, w - bw), rng.randint(0, h - bh)
    _, rgb, shape = named_style(class_name, class_index)
    draw_object(img, polygon(shape, (x1, y1, x1 + bw, y1 + bh)), rgb)
    return img


def save_jpeg(img: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="JPEG", quality=92)
