"""Classification stand-ins: a CoOp split file with its image folder, and the FGVC-Aircraft release layout.

Every image shows one object in its class's style (`_draw.named_style`, distinct for up to 48 classes) at a
random place and size. `per_class` is the number of images per class in each split (an int for all of train,
val and test, or a dict per split). Left out: FGVC's copyright banner, CoOp's few-shot pickles.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from vrft.data.classification import COOP_IMAGE_DIRS
from vrft.data.standins._draw import save_jpeg, single_object_image
from vrft.errors import ConfigError

SPLITS = ("train", "val", "test")


def _counts(per_class: int | dict[str, int]) -> dict[str, int]:
    counts = dict.fromkeys(SPLITS, per_class) if isinstance(per_class, int) else dict(per_class)
    if any(s not in SPLITS for s in counts) or any(not isinstance(n, int) or n < 0 for n in counts.values()):
        raise ConfigError(f"per_class must be an int or a dict over {SPLITS} of counts, got {per_class!r}")
    return counts


def _check(classes: list[str]) -> None:
    if not classes or len(set(classes)) != len(classes):
        raise ConfigError(f"stand-in classes must be a non-empty list of distinct names, got {classes!r}")


def write_coop_split(
    root: Path | str, classes: list[str], per_class: int | dict[str, int], seed: int, name: str = "OxfordPets"
) -> Path:
    """Write `root/split_zhou_<name>.json` and its images (in CoOp's image folder for `name`); return root."""
    _check(classes)
    root, rng = Path(root), random.Random(seed)
    split_file = f"split_zhou_{name}.json"
    image_folder = COOP_IMAGE_DIRS.get(split_file, "images")
    split: dict[str, list] = {}
    for part, n in _counts(per_class).items():
        entries = []
        for label, cls in enumerate(classes):
            stem = re.sub(r"[^\w-]+", "_", cls)
            for k in range(n):
                relpath = f"{stem}_{part}_{k:04d}.jpg"
                if not image_folder:  # Stanford Cars: paths relative to the dataset folder
                    relpath = f"{'cars_test' if part == 'test' else 'cars_train'}/{relpath}"
                save_jpeg(single_object_image(rng, label, cls), root / image_folder / relpath)
                entries.append([relpath, label, cls])
        split[part] = entries
    root.mkdir(parents=True, exist_ok=True)
    (root / split_file).write_text(json.dumps(split), encoding="utf-8")
    return root


def write_fgvc_aircraft(
    root: Path | str, variants: list[str], per_class: int | dict[str, int], seed: int
) -> Path:
    """Write the FGVC-Aircraft release layout under `root/data/` (images, variants, splits); return root."""
    _check(variants)
    root, rng = Path(root), random.Random(seed)
    data = root / "data"
    lines: dict[str, list[str]] = {}
    next_id = 1000001
    for part, n in _counts(per_class).items():
        lines[part] = []
        for label, variant in enumerate(variants):
            for _ in range(n):
                image_id = f"{next_id:07d}"
                next_id += 1
                save_jpeg(single_object_image(rng, label, variant), data / "images" / f"{image_id}.jpg")
                lines[part].append(f"{image_id} {variant}")
    lines["trainval"] = lines.get("train", []) + lines.get("val", [])
    data.mkdir(parents=True, exist_ok=True)
    (data / "variants.txt").write_text("\n".join(variants) + "\n", encoding="utf-8")
    for part, part_lines in lines.items():
        (data / f"images_variant_{part}.txt").write_text(
            "".join(f"{x}\n" for x in part_lines), encoding="utf-8"
        )
    return root
