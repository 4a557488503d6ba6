"""Where the `hardened` and `official` reward sets score differently: one detector per difference.

`DIFFERENCES` holds one key per row of docs/rewards.md's table (the tests check that they are the same set).
Each detector says whether a completion meets that row's condition, the condition under which the two modes
may score it differently. `compat_monitors(completions, solutions)` returns, per key, the fraction of the batch
that meets it (`compat/<key>`, logged as `train/hack/compat/<key>`) and `compat/any` (meets at least one), so a
user sees whether a difference mattered in their run. `math_verify` is reported only on request
(`math_verify=True`, which training sets under `reward.compat=official` only), when the `math-verify` package is
installed and the call is on the main thread (math_verify needs SIGALRM); its detector is bounded so that what a
policy writes cannot stall training: completions over `MV_MAX_CHARS` characters are not checked (counted as not
passing) and math_verify's own timeouts are cut to `MV_TIMEOUT_S` (parse and verify; the official reward keeps
its defaults). Leaves out: scoring itself (a detector tells that a condition held, not how much the
scores moved) and the classification `match` setting (`substring_label` counts where exact and substring
disagree, whatever `match` is set to).
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

from vrft.rewards.classification import accuracy_score
from vrft.rewards.detection import gt_boxes
from vrft.rewards.format import format_score
from vrft.rewards.official.rules import INT_PAIR_RE, line_answer, math_verify_passes
from vrft.rewards.parse import (
    MAX_ENTRIES,
    completion_text,
    extract_answer,
    parse_detection,
    solution_answer,
    solution_kind,
)

_NUM = r"(\d+(?:\.\d+)?)"
_PAIR_RE = re.compile(rf"\(\s*{_NUM}\s*,\s*{_NUM}\s*\)\s*,\s*\(\s*{_NUM}\s*,\s*{_NUM}\s*\)")  # as parse's
_NONFINITE_CONF_RE = re.compile(r"""["']Confidence["']\s*:\s*-?(?:NaN|Infinity)""")
_CONF_RE = re.compile(r"""["']Confidence["']\s*:\s*(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)""")
_ODD_SPACE_RE = re.compile(r"[^\S ]")  # whitespace other than a plain space

Detector = Callable[[str, str, str, "str | None"], bool]  # (text, solution, kind, hardened answer)


def _multiline(t: str, s: str, k: str, a: str | None) -> bool:
    if k not in ("detection", "classification") or a is None:
        return False
    la = line_answer(t)
    return la is None or la.strip() != a


def _detection_text(a: str | None) -> str:
    return a.replace("[[", "[").replace("]]", "]") if a is not None else ""


def _truncated(t: str, s: str, k: str, a: str | None) -> bool:
    x = _detection_text(a)
    return k == "detection" and x.startswith("[") and not x.endswith("]")


def _invalid_entry(t: str, s: str, k: str, a: str | None) -> bool:
    if k != "detection":
        return False
    p = parse_detection(a)
    return p.ok and any(not b.valid for b in p.boxes)


def _truth_invalid_box(t: str, s: str, k: str, a: str | None) -> bool:
    if k != "detection":
        return False
    gt = parse_detection(solution_answer(s), max_entries=None)
    return gt.ok and any(b.position is None for b in gt.boxes)


def _confidence_range(t: str, s: str, k: str, a: str | None) -> bool:
    return k == "detection" and a is not None and any(not 0 <= float(x) <= 1 for x in _CONF_RE.findall(a))


def _first_pair(k: str, a: str | None) -> tuple[str, tuple[float, ...]] | None:
    m = _PAIR_RE.search(a) if k == "grounding" and a is not None else None
    return (m.group(0), tuple(float(g) for g in m.groups())) if m else None


def _grounding(test: Callable[[str, tuple[float, ...]], bool]) -> Detector:
    def detect(t: str, s: str, k: str, a: str | None) -> bool:
        pair = _first_pair(k, a)
        return pair is not None and test(*pair)

    return detect


MV_MAX_CHARS = (
    1000  # longer completions skip the monitor's math_verify call (a 60-character power tower costs s)
)
MV_TIMEOUT_S = (
    1  # math_verify's parsing_timeout and timeout_seconds (its defaults: 3); whole seconds (SIGALRM)
)


def math_verify_bounded(text: str, solution: str) -> bool:
    """The official pre-check for the monitor only, bounded in input length and time (see the module doc)."""
    if len(text) > MV_MAX_CHARS:
        return False
    return math_verify_passes(text, solution, timeout_s=MV_TIMEOUT_S)


def _format_whitespace(think: str) -> Detector:
    """Surrounding whitespace around a completion in the `think` layout (the hardened format strips it)."""
    return lambda t, s, k, a: t != t.strip() and format_score(t, think=think) == 1.0


DIFFERENCES: dict[str, Detector] = {
    "math_verify": lambda t, s, k, a: math_verify_bounded(t, s),
    "no_answer_block": lambda t, s, k, a: a is None,
    "multiline_answer": _multiline,
    "format_whitespace": _format_whitespace("on"),  # compat_monitors uses the run's prompt.think
    "label_whitespace": lambda t, s, k, a: k == "classification" and bool(a and _ODD_SPACE_RE.search(a)),
    "empty_label": lambda t, s, k, a: (  # what the official rule normalises to '' ('_', '  ', '___')
        k == "classification" and a is not None and a.replace(" ", "").replace("_", "") == ""
    ),
    "substring_label": lambda t, s, k, a: (
        k == "classification"
        and bool(a)
        and accuracy_score(a, solution_answer(s), "exact")
        != accuracy_score(a, solution_answer(s), "substring")
    ),
    "no_objects_truth": lambda t, s, k, a: k == "detection" and gt_boxes(s) == (),
    "truncated_list": _truncated,
    "invalid_entry": _invalid_entry,
    "nonfinite_confidence": lambda t, s, k, a: k == "detection" and bool(a and _NONFINITE_CONF_RE.search(a)),
    "confidence_range": _confidence_range,
    "over_max_entries": lambda t, s, k, a: k == "detection" and _detection_text(a).count("{") > MAX_ENTRIES,
    "grounding_decimal": _grounding(lambda text, box: "." in text),
    "grounding_zero_area": _grounding(lambda text, b: b[0] == b[2] or b[1] == b[3]),
    "grounding_reversed": _grounding(lambda text, b: b[0] > b[2] or b[1] > b[3]),
    "grounding_several_boxes": lambda t, s, k, a: k == "grounding" and len(INT_PAIR_RE.findall(a or t)) > 1,
    # the ground-truth side
    "truth_invalid_box": _truth_invalid_box,
    "truth_no_answer_block": lambda t, s, k, a: k == "detection" and extract_answer(s) is None,
    "truth_empty_label": lambda t, s, k, a: k == "classification" and solution_answer(s) == "",
    "grounding_truth_decimal": lambda t, s, k, a: k == "grounding" and "." in (_first_pair(k, s) or ("",))[0],
    "grounding_truth_several_boxes": lambda t, s, k, a: k == "grounding" and len(INT_PAIR_RE.findall(s)) > 1,
}


def _mean(xs: Sequence[bool]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def compat_monitors(
    completions: Sequence[Any], solutions: Sequence[Any], *, math_verify: bool = True, think: str = "on"
) -> dict[str, float]:
    """`compat/<key>` and `compat/any` over the completions whose solution is a string (see the module doc);
    `think` is the layout the format reward scores (`prompt.think`)."""
    detectors = {**DIFFERENCES, "format_whitespace": _format_whitespace(think)}
    rows = [
        (completion_text(c), s) for c, s in zip(completions, solutions, strict=True) if isinstance(s, str)
    ]
    if not rows:
        return {}
    with_mv = (
        math_verify
        and importlib.util.find_spec("math_verify")
        and threading.current_thread() is threading.main_thread()
    )
    keys = [k for k in DIFFERENCES if k != "math_verify" or with_mv]
    fired = []
    for t, s in rows:
        kind, answer = solution_kind(s), extract_answer(t)
        fired.append({k: bool(detectors[k](t, s, kind, answer)) for k in keys})
    out = {f"compat/{k}": _mean([f[k] for f in fired]) for k in keys}
    out["compat/any"] = _mean([any(f.values()) for f in fired])
    return out
