"""The one parser that rewards, monitors and evaluation share, so training and evaluation cannot drift.

Reads completion text (plain or TRL conversational), the first `<answer>...</answer>` block, class labels,
detection box lists (`[{'Position': [x1, y1, x2, y2], 'Confidence': c}, ...]`, `[]`, `No Objects`) and grounding
boxes (`(x1,y1),(x2,y2)`), and tells which task a solution belongs to. Every parser returns a value for any input;
none raises and none evaluates code (detection answers go through `json` after quote normalisation).
Re-exports the box helpers of `boxes`. Leaves out: scoring (see the task modules) and coordinate conventions (the
model family's codec converts; a prediction and its solution are always in the same space).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from vrft.rewards.boxes import Box, box_giou, box_iou, match_boxes

__all__ = [
    "MAX_ENTRIES",
    "Box",
    "DetectionParse",
    "PredBox",
    "box_giou",
    "box_iou",
    "completion_text",
    "dedup_boxes",
    "detection_items",
    "extract_answer",
    "match_boxes",
    "normalize_label",
    "parse_detection",
    "parse_grounding",
    "solution_answer",
    "solution_kind",
]

MAX_ENTRIES = 300
"""A predicted detection answer with more entries (counted as `{`) does not parse and scores 0; ground truth is
read without the cap. LVIS evaluation keeps at most 300 detections per image (lvis-api max_dets=300), so no usable
answer needs more; the cap also bounds the matching cost (a 20,000-box answer is rejected before it is decoded)."""

_NO_OBJECTS_RE = re.compile(r"no objects", re.IGNORECASE)
_EMPTY_LIST_RE = re.compile(r"\[\s*\]")
_LABEL_DROP_RE = re.compile(r"[\s_]+")
_NUM = r"(\d+(?:\.\d+)?)"
_PAIR_RE = re.compile(rf"\(\s*{_NUM}\s*,\s*{_NUM}\s*\)\s*,\s*\(\s*{_NUM}\s*,\s*{_NUM}\s*\)")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):  # [{"type": "text", "text": ...}, ...]; other parts are skipped
        parts = [p.get("text") if isinstance(p, dict) else p for p in content]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def completion_text(c: Any) -> str:
    """The text of a completion: a str as is; of a conversational list, the last assistant message's content
    (the last message when none has a role); a content list joins its text parts. Anything else gives ""."""
    if isinstance(c, str):
        return c
    if isinstance(c, dict):
        return _content_text(c.get("content"))
    if isinstance(c, (list, tuple)):
        msgs = [m for m in c if isinstance(m, dict)]
        assistant = [m for m in msgs if m.get("role") == "assistant"]
        chosen = assistant or msgs
        return _content_text(chosen[-1].get("content")) if chosen else ""
    return ""


def extract_answer(text: str) -> str | None:
    """The stripped text inside the first `<answer>...</answer>` (newlines allowed); None without a block."""
    if not isinstance(text, str):
        return None
    # the regex `<answer>(.*?)</answer>` (DOTALL) searched with two finds: linear, where the regex is quadratic
    # on text with many unclosed `<answer>` tags
    start = text.find("<answer>")
    end = text.find("</answer>", start + 8) if start >= 0 else -1
    return text[start + 8 : end].strip() if end >= 0 else None


def solution_answer(solution: str) -> str:
    """A ground-truth solution's answer: its `<answer>` block, or the whole stripped string without one."""
    ans = extract_answer(solution)
    return ans if ans is not None else str(solution).strip()


def normalize_label(s: str) -> str:
    """Lowercase with all whitespace and underscores removed (official `grpo_classification.py` L55-99 removes
    spaces and underscores only; a tab or newline inside a label is layout, not a different label)."""
    return _LABEL_DROP_RE.sub("", s.lower()) if isinstance(s, str) else ""


@dataclass(frozen=True)
class PredBox:
    """One detection entry. `position` is None unless it is 4 finite numbers with x1 < x2 and y1 < y2;
    `confidence` is None unless it is a finite number (then clamped to [0, 1]); `valid` needs both."""

    position: Box | None
    confidence: float | None
    valid: bool


@dataclass(frozen=True)
class DetectionParse:
    """A detection answer: `ok` when it is a list of objects, `[]` or `No Objects` (then `no_objects`)."""

    ok: bool
    no_objects: bool
    boxes: tuple[PredBox, ...]


_FAILED = DetectionParse(ok=False, no_objects=False, boxes=())
_NONE = DetectionParse(ok=True, no_objects=True, boxes=())


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:  # a JSON integer beyond float range
        return None
    return f if math.isfinite(f) else None


def _position(v: Any) -> Box | None:
    if not isinstance(v, list) or len(v) != 4:
        return None
    nums = [_number(x) for x in v]
    if any(x is None for x in nums):
        return None
    x1, y1, x2, y2 = nums
    return (x1, y1, x2, y2) if x1 < x2 and y1 < y2 else None


def _entry(e: dict) -> PredBox:
    pos = _position(e.get("Position"))
    conf = _number(e.get("Confidence"))
    conf = None if conf is None else min(1.0, max(0.0, conf))
    return PredBox(position=pos, confidence=conf, valid=pos is not None and conf is not None)


def detection_items(answer: str | None, max_entries: int | None = MAX_ENTRIES) -> list[dict] | None:
    """The entries of a detection answer as decoded, before any check of their values: `[]` for an empty answer,
    None for one that does not parse (the rules of `parse_detection`). Dataset readers use it to name a bad
    ground-truth entry by its raw values."""
    if not isinstance(answer, str):
        return None
    text = answer.strip().replace("[[", "[").replace("]]", "]")
    if _NO_OBJECTS_RE.fullmatch(text) or _EMPTY_LIST_RE.fullmatch(text):
        return []
    if not text.startswith("[") or (max_entries is not None and text.count("{") > max_entries):
        return None
    try:
        data = json.loads(text.replace("'", '"'))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        return None
    return data


def parse_detection(answer: str | None, max_entries: int | None = MAX_ENTRIES) -> DetectionParse:
    """Parse a detection answer (the text inside `<answer>`), quotes single or double, keys `Position` and
    `Confidence` (case-sensitive; other keys ignored). `[[` and `]]` are first rewritten to `[` and `]`, as the
    official code does (`grpo.py` L245-247), so a doubly wrapped list parses. `No Objects` (case-insensitive) and
    `[]` are an empty answer. Anything that is not a JSON list of objects after `'` -> `"` (truncated text, a bare
    box, Python literals like `None` or `nan`), or that has more than `max_entries` entries (None: no cap; ground
    truth is read uncapped), fails (`ok=False`). Duplicates are kept here (monitors count them); `dedup_boxes`
    removes them."""
    items = detection_items(answer, max_entries)
    if items is None:
        return _FAILED
    if not items:
        return _NONE
    return DetectionParse(ok=True, no_objects=False, boxes=tuple(_entry(e) for e in items))


def dedup_boxes(boxes: tuple[PredBox, ...]) -> tuple[PredBox, ...]:
    """Valid boxes with an identical position are kept once: the first occurrence, with its confidence (official
    `remove_duplicates`, `grpo.py` L136-148, keeps the first and drops later ones); invalid entries are all
    kept."""
    out: list[PredBox] = []
    seen: set[Box] = set()
    for b in boxes:
        if b.valid and b.position in seen:
            continue
        if b.valid:
            seen.add(b.position)
        out.append(b)
    return tuple(out)


def parse_grounding(answer: str | None) -> Box | None:
    """The first `(x1,y1),(x2,y2)` in the text (non-negative integers or decimals, spaces allowed); None when
    there is none or it is not a box with x1 < x2 and y1 < y2 (a later pair is not tried)."""
    if not isinstance(answer, str):
        return None
    m = _PAIR_RE.search(answer)
    if not m:
        return None
    x1, y1, x2, y2 = (float(g) for g in m.groups())
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    return (x1, y1, x2, y2) if x1 < x2 and y1 < y2 else None


def solution_kind(solution: str) -> Literal["detection", "classification", "grounding"]:
    """Which task a ground-truth solution belongs to: `detection` when its answer parses as a detection answer,
    else `grounding` when it holds a valid `(x1,y1),(x2,y2)` box, else `classification`."""
    ans = solution_answer(solution)
    if parse_detection(ans, max_entries=None).ok:
        return "detection"
    if parse_grounding(ans) is not None:
        return "grounding"
    return "classification"
