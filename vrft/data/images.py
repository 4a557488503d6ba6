"""Safe file access for the dataset readers: required paths, JSON files, and image open/verify.

`require_path` and `read_json` turn a missing dataset root or a malformed annotation file into one `DataError`
line naming the file (and where to get the data); `need` does the same for a missing key. `open_image` decodes
one image to RGB; `filter_readable` checks every image that records point at (decodable, and of the size the
annotation says) and either raises on the first bad one or skips and counts them (`data.skip_bad`).
Left out: resizing (the processor's job, in DataLoader workers), EXIF rotation (COCO/LVIS boxes refer to the
stored pixels, so images are used as stored), and verifying in-memory images (released HF datasets).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from vrft.errors import DataError

log = logging.getLogger(__name__)

README_HINT = "(see README)"


def require_path(path: Path | str, what: str, where: str) -> Path:
    """Return `path` if it exists, else raise "expected <path>: <what>; get it from <where> (see README)"."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"expected {path}: {what}; get it from {where} {README_HINT}")
    return path


def read_json(path: Path | str, what: str, where: str) -> Any:
    """Load a JSON file; a missing file or malformed JSON raises a `DataError` naming the file."""
    path = require_path(path, what, where)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}: malformed JSON ({err.msg} at line {err.lineno} column {err.colno})"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read ({err})") from None


def need(obj: Any, key: str, path: Path | str, context: str = "") -> Any:
    """`obj[key]`, or a `DataError` naming the file, the missing key and where in the file it was expected."""
    where = f" in {context}" if context else ""
    if not isinstance(obj, Mapping):
        raise DataError(f"{path}: expected an object with key {key!r}{where}, got {type(obj).__name__}")
    if key not in obj:
        raise DataError(f"{path}: missing key {key!r}{where}")
    return obj[key]


def open_image(image: Path | str | Image.Image) -> Image.Image:
    """Decode an image file (or take a PIL image) as RGB; a missing or corrupt file raises a `DataError`."""
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    path = Path(image)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"{path}: cannot decode image ({err})") from None


def image_size(path: Path | str) -> tuple[int, int]:
    """(width, height) from the file header only; a missing or unreadable file raises a `DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"{path}: cannot decode image ({err})") from None


def check_image(path: Path | str, size: tuple[int, int] | None = None) -> str | None:
    """Why the image at `path` is unusable (missing, undecodable, or not `size`), or None if it is fine.

    The whole file is decoded (JPEGs at reduced scale, which still reads every byte), so truncation is caught.
    """
    path = Path(path)
    if not path.is_file():
        return f"{path}: image file not found"
    try:
        with Image.open(path) as img:
            stored = img.size
            img.draft("RGB", (max(1, stored[0] // 8), max(1, stored[1] // 8)))
            img.load()
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        return f"{path}: cannot decode image ({err})"
    if size is not None and tuple(size) != tuple(stored):
        return f"{path}: image is {stored[0]}x{stored[1]} but the annotation says {size[0]}x{size[1]}"
    return None


def _image_of(record: Any) -> Any:
    return record["image"] if isinstance(record, Mapping) else record.image


def _size_of(record: Any) -> tuple[int, int] | None:
    w, h = getattr(record, "width", 0), getattr(record, "height", 0)
    return (int(w), int(h)) if w and h else None


def filter_readable(records: Sequence[Any], skip_bad: bool = False) -> tuple[list[Any], int]:
    """Keep the records whose image file decodes (and matches the record's width/height when it has them).

    Each distinct file is checked once. With `skip_bad=False` the first bad image raises a `DataError` naming
    it; with `skip_bad=True` records of bad images are dropped, and the count is logged and returned as
    `(kept_records, n_skipped_records)`. Records whose image is already in memory (PIL) are kept unchecked.
    """
    verdict: dict[tuple[str, tuple[int, int] | None], str | None] = {}
    kept: list[Any] = []
    bad_files: dict[str, str] = {}
    for record in records:
        image = _image_of(record)
        if not isinstance(image, (str, Path)):
            kept.append(record)
            continue
        key = (str(image), _size_of(record))
        if key not in verdict:
            verdict[key] = check_image(image, key[1])
        reason = verdict[key]
        if reason is None:
            kept.append(record)
            continue
        if not skip_bad:
            raise DataError(reason + " (set data.skip_bad=true to skip and count bad images)")
        bad_files.setdefault(str(image), reason)
    n_skipped = len(records) - len(kept)
    if n_skipped:
        first = next(iter(bad_files.values()))
        log.warning(
            "skipped %d records of %d unreadable images (data.skip_bad=true); first: %s",
            n_skipped,
            len(bad_files),
            first,
        )
    return kept, n_skipped
