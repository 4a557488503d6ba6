"""Scenes of a synthetic world: grid-aligned layouts of coloured shapes, and their PIL rendering.

`make_scene(spec, rng, categories, first)` places 1..n objects on the world's grid: each object covers a block of
whole cells (so its box edges are cell edges), objects never overlap, and two objects of the same colour never
touch (they would read as one blob). `render(spec, scene, rng)` draws the scene: every shape fills its box
exactly (its bounding box is its box, pixel-inclusive x1..x2-1 as in COCO). With `lighting: gradient` the scene
(a grey backdrop and the objects on it) is lit by a fixed light that brightens from left to right and shifts from
warm to cool from top to bottom, so every patch, object or backdrop, shows where it is (Qwen2-VL's vision tower
has only relative positions); with `lighting: flat` the backdrop is a random light colour and the light is even.
Optional Gaussian pixel noise. Left out: occlusion, rotation, textures.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from vrft.synthetic.spec import RGB, WorldSpec

PixelBox = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, x2/y2 exclusive


@dataclass(frozen=True)
class Obj:
    category: str  # "<colour> <shape>"
    cells: tuple[int, int, int, int]  # cx1, cy1, cx2, cy2 in grid cells, exclusive ends

    @property
    def color(self) -> str:
        return self.category.split(" ", 1)[0]

    @property
    def shape(self) -> str:
        return self.category.split(" ", 1)[1]

    def box(self, cell: int) -> PixelBox:
        return tuple(v * cell for v in self.cells)  # type: ignore[return-value]


def _touches(a: tuple[int, ...], b: tuple[int, ...], gap: int) -> bool:
    """Whether cell blocks a and b overlap (gap=0) or overlap/touch (gap=1)."""
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _place(spec: WorldSpec, rng: random.Random, category: str, placed: list[Obj]) -> Obj | None:
    color = category.split(" ", 1)[0]
    for _ in range(30):
        w, h = rng.randint(*spec.cells), rng.randint(*spec.cells)
        x, y = rng.randint(0, spec.grid - w), rng.randint(0, spec.grid - h)
        cells = (x, y, x + w, y + h)
        if not any(_touches(cells, o.cells, int(o.color == color)) for o in placed):
            return Obj(category, cells)
    return None


def make_scene(
    spec: WorldSpec, rng: random.Random, categories: list[str], first: str | None = None
) -> list[Obj]:
    """Objects of one image: `first` (if given) then random `categories`, as many as fit (at least one)."""
    n = rng.randint(*spec.objects)
    objs: list[Obj] = []
    for k in range(n):
        cat = first if (k == 0 and first is not None) else rng.choice(categories)
        obj = _place(spec, rng, cat, objs)
        if obj is not None:
            objs.append(obj)
    if not objs:  # the first object always fits on an empty grid
        objs.append(_place(spec, rng, first or rng.choice(categories), []))  # type: ignore[arg-type]
    return objs


BACKDROP = (150, 150, 150)


def light(size: int) -> np.ndarray:
    """(S, S, 3) multiplicative light: brightness 0.55..1.15 left to right; cool (blue x1.3, red x0.7) at the top to
    warm (red x1.3, blue x0.7) at the bottom."""
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    bright = np.broadcast_to(0.55 + 0.6 * ramp[None, :], (size, size))
    warm = np.broadcast_to(0.6 * ramp[:, None] - 0.3, (size, size))
    return np.stack([bright * (1 + warm), bright, bright * (1 - warm)], axis=-1)


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: PixelBox, rgb: tuple[int, int, int]) -> None:
    """Fill `shape` so that its bounding box is exactly `box` (pixels x1..x2-1, y1..y2-1)."""
    x1, y1, x2, y2 = box
    xr, yb = x2 - 1, y2 - 1
    mx, my = (x1 + xr) / 2, (y1 + yb) / 2
    if shape == "square":
        draw.rectangle((x1, y1, xr, yb), fill=rgb)
    elif shape == "circle":
        draw.ellipse((x1, y1, xr, yb), fill=rgb)
    elif shape == "ring":
        draw.ellipse((x1, y1, xr, yb), outline=rgb, width=max(2, min(x2 - x1, y2 - y1) // 5))
    elif shape == "triangle":
        draw.polygon([(x1, yb), (xr, yb), (mx, y1)], fill=rgb)
    elif shape == "diamond":
        draw.polygon([(mx, y1), (xr, my), (mx, yb), (x1, my)], fill=rgb)
    elif shape == "cross":
        tx, ty = (x2 - x1) / 3, (y2 - y1) / 3
        draw.rectangle((x1, round(y1 + ty), xr, round(yb - ty)), fill=rgb)
        draw.rectangle((round(x1 + tx), y1, round(xr - tx), yb), fill=rgb)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def render(spec: WorldSpec, objs: list[Obj], rng: random.Random) -> Image.Image:
    """The RGB image of a scene: backdrop, shapes, light, then optional noise."""
    s = spec.image_size
    backdrop = BACKDROP if spec.lighting == "gradient" else tuple(rng.randint(150, 200) for _ in range(3))
    img = Image.new("RGB", (s, s), backdrop)
    draw = ImageDraw.Draw(img)
    for o in objs:
        draw_shape(draw, o.shape, o.box(spec.cell), RGB[o.color])
    if spec.lighting == "flat" and spec.noise <= 0:
        return img
    pixels = np.asarray(img, dtype=np.float32)
    if spec.lighting == "gradient":
        pixels = pixels * light(s)
    if spec.noise > 0:
        pixels = pixels + np.random.default_rng(rng.getrandbits(32)).normal(0.0, spec.noise, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
