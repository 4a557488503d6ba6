"""Bad records, one home for every reader's rules: box checks, image paths that leave their folder, skip-and-count.

`check_box(box, where, size)` applies the box rules to an absolute `(x1, y1, x2, y2)`: a non-finite coordinate or
a negative width or height raises `BadRecord`; a zero-size box comes back as None (the reader decides what that
means); with the image `size` known, a box reaching past the image is clipped to its edges (reported back, so the
reader can count it) and a box wholly outside raises `BadRecord` (it would otherwise train as "No Objects" or as an
unreachable target). `inside(name, folder, entry)` refuses an image name that is absolute, a URL, or climbs out of
`folder` with `..`. `BadData` turns a `BadRecord` into one `DataError` line (with the `data.skip_bad=true` hint), or
under `skip_bad` counts it and logs the count and the first reason once. Left out: symlinks inside the data folder
that point elsewhere (followed, as the dataset's owner made them), and decoding images (`vrft.data.images`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, TypeVar

from vrft.data.records import Box
from vrft.errors import DataError

log = logging.getLogger(__name__)

T = TypeVar("T")
SKIP_HINT = "(set data.skip_bad=true to skip and count bad annotations)"


class BadRecord(DataError):
    """One annotation, record or image entry the reader cannot use; skippable under `data.skip_bad=true`."""


def check_box(
    box: Sequence[float], where: str, size: tuple[float, float] | None = None
) -> tuple[Box | None, bool]:
    """(the box, clipped to the image of `size` when given; whether it was clipped), or (None, False) for a
    zero-size box. `BadRecord` "<where>: <reason>" for a non-finite, negative-size or wholly outside box."""
    try:
        x1, y1, x2, y2 = (float(v) for v in box)
    except OverflowError:  # an integer beyond float range
        x1 = y1 = x2 = y2 = math.inf
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise BadRecord(f"{where}: not a finite number")
    if x2 < x1 or y2 < y1:
        raise BadRecord(f"{where}: negative width or height")
    if x2 == x1 or y2 == y1:
        return None, False
    if size is None:
        return (x1, y1, x2, y2), False
    W, H = size
    clipped = (max(0.0, x1), max(0.0, y1), min(W, x2), min(H, y2))
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise BadRecord(f"{where}: wholly outside its {W:g}x{H:g} image")
    return clipped, clipped != (x1, y1, x2, y2)


def inside(name: str, folder: Path | str, entry: str) -> str:
    """`name` when it is a relative path that stays inside `folder`; `BadRecord` "<entry> names image <name>,
    outside the image folder <folder>" when it is absolute (POSIX or Windows), a URL, or climbs out with `..`."""
    parts = set(PurePosixPath(name).parts) | set(PureWindowsPath(name).parts)
    if (
        PurePosixPath(name).is_absolute()
        or PureWindowsPath(name).is_absolute()
        or PureWindowsPath(name).drive
        or "://" in name
        or ".." in parts
    ):
        raise BadRecord(f"{entry} names image {name!r}, outside the image folder {folder}")
    return name


class BadData:
    """Raise on a bad record, or (skip_bad) count it, remember the skipped keys and log the count once."""

    def __init__(self, path: Path | str, skip_bad: bool, what: str = "annotations or images"):
        self.path, self.skip_bad, self.what = path, skip_bad, what
        self.skipped: list[str] = []
        self.keys: set[Any] = set()
        self.clipped = 0

    def check(self, fn: Callable[[], T], key: Any = None, catch: type[DataError] = BadRecord) -> T | None:
        """`fn()`; on a `catch` error raise one line with the skip hint, or (skip_bad) count it, remember `key`
        (when not None) and return None."""
        try:
            return fn()
        except catch as err:
            if not self.skip_bad:
                raise DataError(f"{err} {SKIP_HINT}") from None
            self.skipped.append(str(err))
            if key is not None:
                self.keys.add(key)
            return None

    def report(self, total: int | None = None) -> None:
        """Log the clipped boxes and the skipped records (with `total`, as "n of total"), once each."""
        if self.clipped:
            log.warning(
                "%s: clipped %d boxes that reached past their image to its edges", self.path, self.clipped
            )
        if self.skipped:
            of = f" of {total}" if total is not None else ""
            log.warning(
                "%s: skipped %d%s bad %s (data.skip_bad=true); first: %s",
                self.path,
                len(self.skipped),
                of,
                self.what,
                self.skipped[0],
            )
