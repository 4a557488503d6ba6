"""Bad rows of a released Visual-RFT dataset, found at load time without decoding an image (`read_virft` uses it).

A row is bad when its image is stored as a file path (a string column, or an `Image` feature without bytes) that is
absolute, a URL, or climbs out of the dataset folder with `..` (`vrft.data.bad.inside`), or when its solution holds
a box that breaks the shared rules (`vrft.data.bad.check_box`) or that the rewards' shared parser would not read:
a detection `Position` that is not four numbers, non-finite, of negative width or height, or a list whose every
box is of zero size (a zero-size entry beside real ones passes: the rewards leave it out, as the COCO reader does),
an answer that looks like a detection list (`[...`, or naming `Position`) but does not parse, or a grounding
`(x1,y1),(x2,y2)` that is not a box of non-negative numbers with an area. Such a truth would otherwise train silently as
something else (an unparsable detection solution is taken for a class label). Left out: clipping and checking boxes
against the image (the solution's coordinate space is not recorded in the rows; see `vrft.data.virft_hf`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from vrft.data.bad import BadData, BadRecord, check_box, inside
from vrft.errors import DataError
from vrft.rewards.parse import detection_items, parse_grounding, solution_answer

LOOSE_PAIR = re.compile(r"\(([^(),]*),([^(),]*)\)\s*,\s*\(([^(),]*),([^(),]*)\)")
"""Anything shaped like a grounding answer `(a,b),(c,d)`, to catch truths the rewards' stricter parser rejects."""


def image_paths(dataset: Any) -> list[str | None]:
    """Per row, the image's file path where it is stored as a path, not bytes (else None); nothing is decoded."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = dataset.with_format("arrow")["image"]
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.to_pylist()
    if not (pa.types.is_struct(column.type) and column.type.get_field_index("path") >= 0):
        return [None] * len(column)
    path = pc.struct_field(column, "path")
    path_only = pc.and_(pc.is_null(pc.struct_field(column, "bytes")), pc.is_valid(path))
    return pc.if_else(path_only, path, pa.scalar(None, pa.string())).to_pylist()


def check_solution(solution: Any, where: str) -> None:
    """`BadRecord` "<where>: ..." for a bad box in a solution (module docstring); a zero-size detection entry
    passes (the rewards leave it out, as the COCO reader does) unless no entry with an area is left."""
    answer = solution_answer(str(solution))
    items = detection_items(answer, max_entries=None)
    if items is not None:
        sized = 0
        for k, item in enumerate(items):
            pos = item.get("Position")
            if not (isinstance(pos, list) and len(pos) == 4 and all(_is_number(v) for v in pos)):
                raise BadRecord(
                    f"{where}: solution entry {k} has Position {pos!r:.80}; expected [x1, y1, x2, y2]"
                )
            sized += check_box(pos, f"{where}: solution entry {k} has Position {pos!r}")[0] is not None
        if items and not sized:
            raise BadRecord(
                f"{where}: no solution entry has a box with an area (it would train as No Objects)"
            )
        return
    if answer.startswith("[") or "Position" in answer:
        raise BadRecord(f"{where}: solution {answer!r:.120} does not parse as a detection answer")
    pair = LOOSE_PAIR.search(answer)
    if pair and parse_grounding(answer) is None:
        where = f"{where}: solution box {pair.group(0)!r:.120}"
        try:
            values = [float(v) for v in pair.groups()]
        except ValueError:
            raise BadRecord(f"{where}: not numbers") from None
        if check_box(values, where)[0] is None:
            raise BadRecord(f"{where}: no area")
        raise BadRecord(f"{where}: not (x1,y1),(x2,y2) of non-negative numbers")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_row(image: str | None, solution: Any, root: Path | None, where: str) -> bool:
    """True, or `BadRecord` for an image path leaving `root` or a bad solution box."""
    if image is not None:
        inside(image, root, where)
    check_solution(solution, where)
    return True


def without_bad_rows(dataset: Any, source: str, root: Path | None, skip_bad: bool) -> Any:
    """`dataset`, or (skip_bad) a selection without its bad rows, counted in one warning; otherwise the first bad
    row raises one line naming `source` and the row. Image paths are checked only for local data (`root`)."""
    bad = BadData(source, skip_bad, "rows")
    paths = image_paths(dataset) if root is not None else [None] * len(dataset)
    solutions = dataset.with_format("arrow")["solution"].to_pylist()
    kept = [
        i
        for i, (image, solution) in enumerate(zip(paths, solutions, strict=True))
        if bad.check(
            lambda i=i, image=image, solution=solution: check_row(image, solution, root, f"{source}: row {i}")
        )
    ]
    bad.report(len(solutions))
    if len(kept) == len(solutions):
        return dataset
    if not kept:
        raise DataError(f"{source}: no usable rows (all {len(solutions)} were bad)")
    return dataset.select(kept)
