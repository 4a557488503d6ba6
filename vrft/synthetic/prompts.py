"""Prompts of the synthetic world: the first sentence of each paper prompt, without the format instructions.

A tiny model trained from random weights learns the answer format from its SFT data, not from instructions, and
every prompt token is paid for at each training and rollout step; these templates keep the paper's wording of the
question and drop the rest (about 15 tokens instead of about 60 for `detection_short`). The answer formats are
the paper's (the rewards parse them): `[{'Position': [x1, y1, x2, y2], 'Confidence': c}]` or `No Objects`, a
class name, `(x1,y1),(x2,y2)`. `think` (`prompt.think`) is taken and not shown: these prompts name no layout, the
model learns it from its SFT targets and the format reward scores it. Registered in `vrft.data.prompts.PROMPTS` when `vrft.synthetic` is imported.
Left out: prompts for real models (`vrft.data.prompts`).
"""

from __future__ import annotations

from vrft.data.prompts import PROMPTS


@PROMPTS.register("synth_detection")
def synth_detection(*, category: str, think: str = "on") -> str:
    """The paper's detection question (spec 2.2, first sentence)."""
    return f"Detect all objects belonging to the category '{category}' in the image."


@PROMPTS.register("synth_classification")
def synth_classification(*, noun: str = "object", think: str = "on") -> str:
    """The paper's classification question (spec 2.3, first sentences), open-ended naming."""
    return f"This is an image containing an {noun}. Please identify the {noun} based on the image."


@PROMPTS.register("synth_grounding")
def synth_grounding(*, instruction: str, think: str = "on") -> str:
    """The paper's grounding question (spec 2.4, first sentence)."""
    return f"Output the bounding box in the image corresponding to the instruction: {instruction}"
