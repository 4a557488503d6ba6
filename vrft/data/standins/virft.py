"""Released-dataset stand-in: rows of image, problem, solution written as the ViRFT releases are stored.

`fmt="disk"` saves a `DatasetDict({split: ...})` with `save_to_disk` (what the paper's `grpo.py` loads);
`fmt="parquet"` writes `root/data/<split>-00000-of-00001.parquet` (the Hub layout). Images are embedded as PNG
bytes, keeping their mode (the paper stored RGBA). Left out: pushing to the Hub, sharding.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from vrft.errors import ConfigError

FORMATS = ("disk", "parquet")


def _png(image: Any) -> dict:
    if isinstance(image, (str, Path)):
        with Image.open(image) as img:
            img.load()
            image = img.copy()
    if not isinstance(image, Image.Image):
        raise ConfigError(f"a stand-in row's image must be a PIL image or a path, got {type(image).__name__}")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return {"bytes": buf.getvalue(), "path": None}


def write_virft_hf(
    root: Path | str, rows: Sequence[Mapping[str, Any]], fmt: str = "disk", split: str = "train"
) -> Path:
    """Write `rows` ({"image", "problem", "solution"}) as a released ViRFT dataset at `root`; return root."""
    from datasets import Dataset, DatasetDict, Features, Value
    from datasets import Image as ImageFeature

    if fmt not in FORMATS:
        raise ConfigError(f"stand-in format {fmt!r} is not one of: {', '.join(FORMATS)}")
    if not rows:
        raise ConfigError("a stand-in ViRFT dataset needs at least one row")
    features = Features({"image": ImageFeature(), "problem": Value("string"), "solution": Value("string")})
    columns = {
        "image": [_png(r["image"]) for r in rows],
        "problem": [str(r["problem"]) for r in rows],
        "solution": [str(r["solution"]) for r in rows],
    }
    dataset = Dataset.from_dict(columns, features=features)
    root = Path(root)
    if fmt == "disk":
        DatasetDict({split: dataset}).save_to_disk(str(root))
    else:
        (root / "data").mkdir(parents=True, exist_ok=True)
        dataset.to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root
