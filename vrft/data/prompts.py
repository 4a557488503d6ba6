"""Prompt templates, one registry, used verbatim at training and at evaluation.

`PROMPTS.get(name)(**fields) -> str` gives the user-turn text that follows the image. The paper's templates are
copied character for character from the official scripts (spec section 2), typos included ("tags.The",
"grouding"): a prompt that differs between training and evaluation cost a reproduction 60 points. The `*_short`
templates are condensed versions with the same answer format, for tiny synthetic models whose context is short.

Left out: the chat template and system turn (the processor applies them), the "<image>\\n" prefix of the
official evaluation scripts (absent at training time, so not used here), and the unreleased existence-query prompt.
"""

from __future__ import annotations

from vrft.registry import Registry

PROMPTS = Registry("prompt")

_THINK_ANSWER = "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags."
_FORMAT_HEAD = "The output answer format should be as follows:\n"
_STRICT = "Please strictly follow the format."


@PROMPTS.register("detection")
def detection(*, category: str) -> str:
    """The paper's detection prompt (one category per query; train `problem` column and COCO/LVIS evaluation)."""
    return (
        f"Detect all objects belonging to the category '{category}' in the image, and provide the bounding boxes "
        "(between 0 and 1000, integer) and confidence (between 0 and 1, with two decimal places).\n"
        f"If no object belonging to the category '{category}' in the image, return 'No Objects'.\n"
        + _THINK_ANSWER
        + _FORMAT_HEAD
        + "<think> ... </think> <answer>[{'Position': [x1, y1, x2, y2], 'Confidence': number}, ...]</answer>\n"
        + _STRICT
    )


@PROMPTS.register("classification")
def classification(*, noun: str, attribute: str) -> str:
    """The paper's open-ended classification prompt, e.g. noun="a plant", attribute="species" (no label list)."""
    thing = noun.split(" ", 1)[-1]  # "a plant" -> "plant", "an aircraft" -> "aircraft"
    return (
        f"This is an image containing {noun}. Please identify the {attribute} of the {thing} based on the image.\n"
        + _THINK_ANSWER
        + _FORMAT_HEAD
        + "<think> ... </think> <answer>species name</answer>\n"
        + _STRICT
    )


def _dataset_prompt(noun: str, attribute: str):
    def prompt() -> str:
        return classification(noun=noun, attribute=attribute)

    prompt.__doc__ = f"Classification prompt: {noun}, {attribute} (spec 2.3)."
    return prompt


for _name, _noun, _attr in (
    ("flowers", "a plant", "species"),
    ("aircraft", "an aircraft", "model"),
    ("cars", "a car", "model"),
    ("pets", "a pet", "species"),
):
    PROMPTS.register(f"classification_{_name}")(_dataset_prompt(_noun, _attr))


@PROMPTS.register("lisa_grounding")
def lisa_grounding(*, instruction: str) -> str:
    """The paper's ReasonSeg training prompt (gen_sft.py question + grpo_lisa.py QUESTION_TEMPLATE)."""
    return (
        f"Output the bounding box in the image corresponding to the instruction: {instruction} "
        "Output the thinking process in <think> </think> and your grouding box. "
        'Following "<think> thinking process </think>\n<answer>(x1,y1),(x2,y2)</answer>)" format.'
    )


@PROMPTS.register("detection_short")
def detection_short(*, category: str) -> str:
    """Condensed detection prompt for tiny models: same answer schema, including 'No Objects'."""
    return (
        f"Detect all objects belonging to the category '{category}' in the image.\n"
        "Answer as <think> ... </think> <answer>[{'Position': [x1, y1, x2, y2], 'Confidence': number}, ...]"
        "</answer> or <answer>No Objects</answer>."
    )


@PROMPTS.register("classification_short")
def classification_short(*, noun: str = "object") -> str:
    """Condensed classification prompt for tiny models: open-ended naming, same answer tags."""
    return f"Identify the {noun} in the image.\nAnswer as <think> ... </think> <answer>name</answer>."


@PROMPTS.register("grounding_short")
def grounding_short(*, instruction: str) -> str:
    """Condensed grounding prompt for tiny models: one box, same `(x1,y1),(x2,y2)` answer."""
    return f"Find: {instruction}\nAnswer as <think> ... </think> <answer>(x1,y1),(x2,y2)</answer>."
