"""The format reward, shared by every task (official `grpo.py` L352-359, `grpo_classification.py` L101-107).

1.0 when the whole completion, surrounding whitespace ignored, has the layout of the run's `prompt.think` mode,
else 0.0. `on` (the paper's): `<think>...</think>` then only whitespace then `<answer>...</answer>` (the official
regex under `re.fullmatch` with DOTALL); `off`: `<answer>...</answer>` alone; `after`: `<answer>...</answer>` then
only whitespace then `<think>...</think>`. `FORMAT_PATTERNS` holds the regex of each mode. In the official set
(vrft.rewards.official) surrounding whitespace is not ignored (a trailing newline scores 0, as in the official
code). It applies to every sample, so it never returns None. Leaves out: any check of what the answer holds (the
task rewards do that).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from vrft.errors import ConfigError
from vrft.rewards.base import REWARDS
from vrft.rewards.parse import completion_text

THINK_MODES = ("on", "off", "after")
"""`prompt.think`: the reasoning block before the answer (the paper), none, or after the answer."""

FORMAT_PATTERNS = {  # each under re.fullmatch with DOTALL
    "on": r"<think>.*?</think>\s*<answer>.*?</answer>",  # official grpo.py L352-359
    "off": r"<answer>.*?</answer>",
    "after": r"<answer>.*?</answer>\s*<think>.*?</think>",
}
FORMAT_PATTERN = FORMAT_PATTERNS["on"]

# (first opening tag, last closing tag, joint between the two blocks or None for one block)
_LAYOUTS = {
    "on": ("<think>", "</answer>", re.compile(r"</think>\s*<answer>")),
    "off": ("<answer>", "</answer>", None),
    "after": ("<answer>", "</think>", re.compile(r"</answer>\s*<think>")),
}


def check_think(think: Any) -> str:
    """`think` if it is one of `THINK_MODES`; anything else is a config error naming `prompt.think`."""
    if think not in THINK_MODES:
        raise ConfigError(f"prompt.think={think!r} is invalid: must be one of {', '.join(THINK_MODES)}")
    return think


def format_score(text: str, strip: bool = True, think: str = "on") -> float:
    """1.0 when `text.strip()` (`text` itself when not `strip`) fully matches `FORMAT_PATTERNS[think]` (DOTALL),
    else 0.0.

    Computed without the pattern, which backtracks quadratically on text with many joints: the text must start
    with the layout's first opening tag and end with its last closing tag, without the two overlapping, and for
    two blocks hold the joint (`</think>`, whitespace, `<answer>` for `on`) between them. That is the same set
    of strings.
    """
    first, last, joint = _LAYOUTS[check_think(think)]
    if not isinstance(text, str):
        return 0.0
    s = text.strip() if strip else text
    if len(s) < len(first) + len(last) or not (s.startswith(first) and s.endswith(last)):
        return 0.0
    if joint is None:
        return 1.0
    return 1.0 if joint.search(s, len(first), len(s) - len(last)) else 0.0


@REWARDS.register("format")
def format_reward(completions: Sequence[Any], think: str = "on", **columns: Any) -> list[float | None]:
    """TRL reward: the format score of each completion in the `think` layout (`prompt.think`, bound by the run);
    dataset columns (and `solution`) are ignored."""
    check_think(think)
    return [format_score(completion_text(c), think=think) for c in completions]
