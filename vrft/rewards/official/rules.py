"""The official Visual-RFT reward code's rules, bugs included: the scores of the `official` reward set.

Reproduces, from a reading of the official `src/virft/src/open_r1/grpo.py` (detection: `accuracy_reward_iou`,
`accuracy_reward_confidence`), `grpo_classification.py` (`accuracy_reward`) and `grpo_lisa.py` (`accuracy_reward`,
GIoU + 1) at HEAD `9486633`, score for score on any completion text and solution:
- the math_verify pre-check of every task reward (`math_verify.parse` of the whole completion verified against the
  solution gives 1.0 and skips the task logic), through the `math-verify` package (`pip install 'vrft[official]'`);
- the answer found by `<answer>(.*?)</answer>` without DOTALL (with DOTALL for the grounding answer), the whole
  completion when there is none;
- detection: `[[`/`]]` -> `[`/`]`, newlines deleted, the truncation repair, `json.loads` (which reads `NaN`),
  first-occurrence dedup, greedy matching by raw confidence, `R_IoU` clamped above only, the confidence mean
  clamped to [0, 1] (NaN passes), and any exception (a bad entry anywhere) giving 0.0 for the whole answer;
- classification: spaces and underscores removed, lowercase, bidirectional substring (an empty answer scores 1.0);
- grounding: integer pairs only, the first box's top-left points paired with the second's, degenerate or reversed
  boxes scored as they come (up to 1.0 for a zero-area box, above 2.0 for some reversed ones), 2.0 when the
  answer equals the solution's answer as a string.
Each function is pure except for math_verify's own use of a timer signal (main thread only). Leaves out: the
official DEBUG_MODE log file, and the completion plumbing (`completion[0]["content"]`; the caller passes the text).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from vrft.errors import ConfigError

INT_PAIR_RE = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*,\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)")  # grpo_lisa.py


def math_verify_passes(text: str, solution: str, timeout_s: int | None = None) -> bool:
    """The official pre-check: `float(verify(parse(text), parse(solution))) > 0`; any exception is False.
    `timeout_s` replaces math_verify's own parse and verify timeouts (None: its defaults, as the official code).

    math_verify times its parsing with SIGALRM, which works only in the main thread; elsewhere every call would
    fail and so silently skip the pre-check, so this raises instead."""
    try:
        from math_verify import parse, verify
    except ImportError as err:
        raise ConfigError(
            "reward.compat=official needs the math-verify package (pip install 'vrft[official]')"
        ) from err
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "the official math_verify pre-check runs only in the main thread (it uses SIGALRM)"
        )
    try:
        if timeout_s is None:
            return float(verify(parse(text), parse(solution))) > 0
        first, second = parse(text, parsing_timeout=timeout_s), parse(solution, parsing_timeout=timeout_s)
        return float(verify(first, second, timeout_seconds=timeout_s)) > 0
    except Exception:
        return False


def line_answer(text: str) -> str | None:
    """The group of `re.search(r"<answer>(.*?)</answer>", text)` (no DOTALL: the block must sit on one line),
    found line by line so it stays linear; None when there is none."""
    for line in text.split("\n"):
        start = line.find("<answer>")
        end = line.find("</answer>", start + 8) if start >= 0 else -1
        if end >= 0:
            return line[start + 8 : end]
    return None


def _dotall_answer(text: str) -> str | None:
    start = text.find("<answer>")
    end = text.find("</answer>", start + 8) if start >= 0 else -1
    return text[start + 8 : end] if end >= 0 else None


def _answer_or_whole(text: str, dotall: bool = False) -> str:
    ans = _dotall_answer(text) if dotall else line_answer(text)
    return ans.strip() if ans is not None else text.strip()


def _norm_label(s: str) -> str:
    return s.replace(" ", "").replace("_", "").lower()


def official_accuracy(text: str, solution: str) -> float:
    """Classification (`grpo_classification.py` L55-99), the pre-check included."""
    return 1.0 if math_verify_passes(text, solution) else accuracy_without_precheck(text, solution)


def accuracy_without_precheck(text: str, solution: str) -> float:
    """The official classification rule alone (for comparisons that set the pre-check aside)."""
    gt, ans = _norm_label(_answer_or_whole(solution)), _norm_label(_answer_or_whole(text))
    return 1.0 if gt in ans or ans in gt else 0.0


def _extract_boxes(s: str) -> Any:
    """`extract_bbox` (`grpo.py` L54-85): the text from the first `<answer>` to the first `</answer>`, repaired
    when it does not end with `]`, as JSON after `'` -> `"`; None on a decode error."""
    if "<answer>" not in s:
        return None
    start, end = s.find("<answer>") + 8, s.find("</answer>")
    body = s[start : end if end != -1 else len(s)]
    if not body.endswith("]"):
        body = body.rsplit("},", 1)[0] + "}]"
    try:
        return json.loads(body.replace("'", '"'))
    except json.JSONDecodeError:
        return None


def _iou(g: Any, p: Any) -> Any:
    """`calculate_iou(gt, pred)` (`grpo.py` L87-107), no guard against degenerate boxes."""
    x1, y1, x2, y2 = g
    u1, v1, u2, v2 = p
    ix1, iy1, ix2, iy2 = max(x1, u1), max(y1, v1), min(x2, u2), min(y2, v2)
    if ix2 <= ix1 or iy2 <= iy1:
        return 0.0
    inter = (ix2 - ix1) * (iy2 - iy1)
    return inter / ((x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter)


def _match(gts: list, preds: list, iou_threshold: float) -> list[tuple[Any, Any]]:
    """`sort_and_calculate_iou` (`grpo.py` L109-134): `(iou or 0, confidence)` per prediction, by confidence."""
    taken: set[int] = set()
    out = []
    for p in sorted(preds, key=lambda b: b["Confidence"], reverse=True):
        best, best_i = 0, -1
        for i, g in enumerate(gts):
            if i not in taken:
                v = _iou(g["Position"], p["Position"])
                if v > best:
                    best, best_i = v, i
        if best > iou_threshold:
            out.append((best, p["Confidence"]))
            taken.add(best_i)
        else:
            out.append((0, p["Confidence"]))
    return out


def _detection(text: str, solution: str, iou_threshold: float) -> tuple[Any, Any]:
    ans = "<answer>" + _answer_or_whole(text) + "</answer>"
    ans = ans.replace("[[", "[").replace("]]", "]").replace("\n", "")
    gts, preds = _extract_boxes(solution.strip()), _extract_boxes(ans)
    if preds is None or type(preds[0]) is not dict:
        return 0.0, 0.0
    seen, unique = set(), []
    for b in preds:  # remove_duplicates (L136-148): the first occurrence stays
        key = tuple(b["Position"])
        if key not in seen:
            seen.add(key)
            unique.append(b)
    results = _match(gts, unique, iou_threshold)
    iou_sum, conf_sum = 0.0, 0.0
    for iou, c in results:  # the loop of compute_reward_iou_v2 / compute_reward_confidence (L172-212)
        iou_sum += iou
        conf_sum += (1 - iou) * (1 - c) if iou == 0 else c
    iou_r = iou_sum / (len(gts) if len(gts) >= len(results) else len(results))
    conf_r = conf_sum / len(results)
    return (1.0 if iou_r > 1 else iou_r), (1.0 if conf_r > 1 else 0.0 if conf_r < 0 else conf_r)


def detection_scores(text: str, solution: str, iou_threshold: float = 0.5) -> tuple[Any, Any]:
    """`(R_IoU, R_conf)` of the official detection rewards without the pre-check; any exception gives 0.0."""
    try:
        return _detection(text, solution, iou_threshold)
    except Exception:
        return 0.0, 0.0


def official_iou(text: str, solution: str, iou_threshold: float = 0.5) -> float:
    """`accuracy_reward_iou` (`grpo.py` L214-280), the pre-check included."""
    return 1.0 if math_verify_passes(text, solution) else detection_scores(text, solution, iou_threshold)[0]


def official_confidence(text: str, solution: str, iou_threshold: float = 0.5) -> float:
    """`accuracy_reward_confidence` (`grpo.py` L283-349), the pre-check included; NaN for a NaN confidence."""
    return 1.0 if math_verify_passes(text, solution) else detection_scores(text, solution, iou_threshold)[1]


def _points(s: str) -> list[tuple[float, float]]:
    """Every integer pair's top-left points, then every pair's bottom-right points, divided by 1000."""
    found = INT_PAIR_RE.findall(s)
    return [(int(a) / 1000, int(b) / 1000) for a, b, _, _ in found] + [
        (int(c) / 1000, int(d) / 1000) for _, _, c, d in found
    ]


def _giou_plus_one(gt: list, st: list) -> float:
    """`compute_giou` (`grpo_lisa.py` L56-89) on points[0] and points[1] of each list."""
    (gx1, gy1), (gx2, gy2) = gt[0], gt[1]
    (sx1, sy1), (sx2, sy2) = st[0], st[1]
    inter = max(0, min(gx2, sx2) - max(gx1, sx1)) * max(0, min(gy2, sy2) - max(gy1, sy1))
    union = (gx2 - gx1) * (gy2 - gy1) + (sx2 - sx1) * (sy2 - sy1) - inter
    iou = inter / union if union > 0 else 0
    c = (max(gx2, sx2) - min(gx1, sx1)) * (max(gy2, sy2) - min(gy1, sy1))
    giou = iou - (c - union) / c if c > 0 else iou
    return giou + 1


def giou_without_precheck(text: str, solution: str) -> float:
    """The official grounding reward (`grpo_lisa.py` L92-142) without the pre-check."""
    gt, ans = _answer_or_whole(solution), _answer_or_whole(text, dotall=True)
    try:
        reward = _giou_plus_one(_points(gt), _points(ans))
    except Exception:
        reward = 0.0
    return 2.0 if ans == gt else float(reward)  # the official int 1 (a zero-size enclosing box) as 1.0


def official_giou(text: str, solution: str) -> float:
    """The official grounding reward, the pre-check (1.0) included."""
    return 1.0 if math_verify_passes(text, solution) else giou_without_precheck(text, solution)
