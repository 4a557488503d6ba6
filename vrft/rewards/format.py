"""The format reward, shared by every task (official `grpo.py` L352-359, `grpo_classification.py` L101-107).

1.0 when the whole completion, surrounding whitespace ignored, is `<think>...</think>` then only whitespace then
`<answer>...</answer>` (the official regex under `re.fullmatch` with DOTALL), else 0.0. In the official set
(vrft.rewards.official) surrounding whitespace is not ignored (a trailing newline scores 0, as in the official code). It applies to every
sample, so it never returns None. Leaves out: any check of what the answer holds (the task rewards do that).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from vrft.rewards.base import REWARDS
from vrft.rewards.parse import completion_text

FORMAT_PATTERN = r"<think>.*?</think>\s*<answer>.*?</answer>"  # official, under re.fullmatch with DOTALL
_JOINT_RE = re.compile(r"</think>\s*<answer>")


def format_score(text: str, strip: bool = True) -> float:
    """1.0 when `text.strip()` (`text` itself when not `strip`) fully matches `FORMAT_PATTERN` (DOTALL), else 0.0.

    Computed without the pattern, which backtracks quadratically on text with many `</think><answer>`: the
    stripped text must start with `<think>`, end with `</answer>`, and hold `</think>`, whitespace, `<answer>`
    between the two. That is the same set of strings.
    """
    if not isinstance(text, str):
        return 0.0
    s = text.strip() if strip else text
    if not (s.startswith("<think>") and s.endswith("</answer>")):
        return 0.0
    return 1.0 if _JOINT_RE.search(s, 7, len(s) - 9) else 0.0


@REWARDS.register("format")
def format_reward(completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """TRL reward: the format score of each completion; dataset columns (and `solution`) are ignored."""
    return [format_score(completion_text(c)) for c in completions]
