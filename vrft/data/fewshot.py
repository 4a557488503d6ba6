"""Few-shot sampling by seed: k examples per class (classification) or k images per category (detection).

`sample_shots(records, shots, seed)` groups records into shots per class and draws `shots` of them per class:

- classification: one record is one shot of its class (`label`);
- detection: one image is one shot of each category whose boxes it carries; the result holds the records of
  the chosen (image, category) pairs. Records with no boxes (negative queries) are never shots.

The draw is deterministic for a seed and independent of the input order: shots are sorted by image id (or
path) before a per-class generator seeded by `(seed, class)` shuffles them, so a class's draw does not depend
on the other classes, and with one seed the k-shot set is contained in the (k+1)-shot set. A class with fewer
than `shots` examples raises a `DataError` listing the short classes, unless `allow_fewer=True` (then all of
its examples are taken and a warning is logged). `queries_of_shot_images(records, shots, negatives, seed)` widens
detection shots to the queries of their images (`task.train_query: all`): the other categories present and the
absent ones ("No Objects"; all, or `task.train_negatives` x as many as the image's positives), which a k-shot image
annotated for every category gives without new labels. Left out: balancing over box counts, and TFA-style greedy
sampling where one image's extra categories count towards their quota.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

from vrft.data.records import ClassificationRecord, DetectionRecord
from vrft.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def default_key(record: Any) -> str:
    """The class of a record: the label of a classification record, the category of a detection record."""
    if isinstance(record, ClassificationRecord):
        return record.label
    if isinstance(record, DetectionRecord):
        return record.category
    raise ConfigError(f"few-shot sampling needs a key function for {type(record).__name__} records")


def _ident(record: Any) -> Any:
    """What one shot is: the image (detection) or the record's image id / path (classification)."""
    image_id = getattr(record, "image_id", "")
    if image_id not in ("", None):
        return image_id
    image = getattr(record, "image", None)
    if isinstance(image, str):
        return image
    raise DataError(f"a {type(record).__name__} needs an image_id or an image path to be sampled by seed")


def _order(record: Any) -> tuple[str, ...]:
    """A sort key over a record's fields, leaving out in-memory images."""
    if not dataclasses.is_dataclass(record):
        return ()
    return tuple(
        str(getattr(record, f.name))
        for f in dataclasses.fields(record)
        if f.name != "image" or isinstance(record.image, str)
    )


def _group(records: Sequence[Any], key: Callable[[Any], str]) -> dict[str, dict[Any, list[Any]]]:
    """{class: {shot id: [records]}}; detection records without boxes are left out."""
    groups: dict[str, dict[Any, list[Any]]] = {}
    for record in records:
        if isinstance(record, DetectionRecord) and not record.boxes:
            continue
        groups.setdefault(key(record), {}).setdefault(_ident(record), []).append(record)
    return groups


def sample_shots(
    records: Sequence[Any],
    shots: int,
    seed: int,
    key: Callable[[Any], str] | None = None,
    classes: Sequence[str] | None = None,
    allow_fewer: bool = False,
) -> list[Any]:
    """`shots` examples per class drawn with `seed` (module docstring), grouped by class in sorted order.

    `key` maps a record to its class (default: `default_key`). `classes`, when given, restricts the draw to
    those classes and requires each of them to have examples.
    """
    if not isinstance(shots, int) or shots < 1:
        raise ConfigError(f"shots must be a positive integer, got {shots!r}")
    if not records:
        raise DataError("few-shot sampling got no records")
    groups = _group(records, key or default_key)
    wanted = sorted(groups) if classes is None else sorted(dict.fromkeys(classes))
    short = {c: len(groups.get(c, {})) for c in wanted if len(groups.get(c, {})) < shots}
    if short:
        listed = ", ".join(f"{c!r} ({n})" for c, n in sorted(short.items()))
        if not allow_fewer:
            raise DataError(
                f"{len(short)} classes have fewer than shots={shots} examples: {listed} "
                f"(lower the shots, or allow fewer to take all of them)"
            )
        log.warning("taking fewer than %d shots for %d classes: %s", shots, len(short), listed)
    out: list[Any] = []
    for cls in wanted:
        units = groups.get(cls, {})
        ids = sorted(units, key=lambda u: (type(u).__name__, u))
        random.Random(f"{seed}/{cls}").shuffle(ids)
        for unit in ids[:shots]:
            out.extend(sorted(units[unit], key=_order))
    if not out:
        raise DataError(f"few-shot sampling with shots={shots} selected no records")
    return out


def queries_of_shot_images(
    records: Sequence[Any], shots: Sequence[Any], negatives: float | None = None, seed: int = 0
) -> list[Any]:
    """Every detection record of the images that hold a shot, in reading order: all positive queries and, per
    image, all negative ones (`negatives` None) or a draw of `negatives` x as many as the image has positives
    (seeded by `(seed, image)`, the fraction drawn by coin)."""
    images = {_ident(r) for r in shots}
    by_image: dict[Any, list[Any]] = {}
    for r in records:
        if _ident(r) in images:
            by_image.setdefault(_ident(r), []).append(r)
    keep: set[int] = set()
    for image, recs in by_image.items():
        pos = [r for r in recs if r.boxes]
        neg = [r for r in recs if not r.boxes]
        if negatives is not None:
            neg = sample_negatives(random.Random(f"{seed}/negatives/{image}"), neg, len(pos), negatives)
        keep.update(id(r) for r in pos + neg)
    return [r for r in records if id(r) in keep]


def sample_negatives(rng: random.Random, negatives: list[Any], positives: int, ratio: float) -> list[Any]:
    """`ratio` x `positives` of `negatives` drawn with `rng` (the fractional part by a coin), at most all of them."""
    want = ratio * positives
    return rng.sample(negatives, min(len(negatives), int(want) + (rng.random() < want - int(want))))
