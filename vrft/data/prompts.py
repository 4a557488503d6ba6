"""Prompt templates, one registry, used verbatim at training and at evaluation.

`PROMPTS.get(name)(think=mode, **fields) -> str` gives the user-turn text that follows the image. `think` is the
run's `prompt.think` (vrft.rewards.format.THINK_MODES): with `on` the paper's templates are copied character for
character from the official scripts (spec section 2), typos included ("tags.The", "grouding"): a prompt that
differs between training and evaluation cost a reproduction 60 points. `off` asks for the `<answer>` block alone
and `after` for the answer then the reasoning; those two wordings are vrft's (the paper has only `on`), e.g.
"Output the final answer in <answer> </answer> tags." and the layout `<answer>species name</answer>`. The `*_short`
templates are condensed versions with the same answer format, for tiny synthetic models whose context is short.

Left out: the chat template and system turn (the processor applies them), the "<image>\\n" prefix of the
official evaluation scripts (absent at training time, so not used here), and the unreleased existence-query prompt.
"""

from __future__ import annotations

from vrft.registry import Registry
from vrft.rewards.format import check_think

PROMPTS = Registry("prompt")

_THINK_ANSWER = {  # "on": the paper's sentence (spec 2.2, 2.3)
    "on": "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.",
    "off": "Output the final answer in <answer> </answer> tags.",
    "after": "Output the final answer in <answer> </answer> tags, then the thinking process in <think> </think>.",
}
_FORMAT_HEAD = "The output answer format should be as follows:\n"
_STRICT = "Please strictly follow the format."
_DET_ANSWER = "[{'Position': [x1, y1, x2, y2], 'Confidence': number}, ...]"


def layout(answer: str, think: str) -> str:
    """The answer layout a prompt shows: `<think> ... </think> <answer>{answer}</answer>` for `on` (the paper's),
    the answer block alone for `off`, the answer then `<think> ... </think>` for `after`."""
    block = f"<answer>{answer}</answer>"
    return {"on": f"<think> ... </think> {block}", "off": block, "after": f"{block} <think> ... </think>"}[
        check_think(think)
    ]


@PROMPTS.register("detection")
def detection(*, category: str, think: str = "on") -> str:
    """The paper's detection prompt (one category per query; train `problem` column and COCO/LVIS evaluation)."""
    return (
        f"Detect all objects belonging to the category '{category}' in the image, and provide the bounding boxes "
        "(between 0 and 1000, integer) and confidence (between 0 and 1, with two decimal places).\n"
        f"If no object belonging to the category '{category}' in the image, return 'No Objects'.\n"
        + _THINK_ANSWER[check_think(think)]
        + _FORMAT_HEAD
        + layout(_DET_ANSWER, think)
        + "\n"
        + _STRICT
    )


@PROMPTS.register("classification")
def classification(*, noun: str, attribute: str, think: str = "on") -> str:
    """The paper's open-ended classification prompt, e.g. noun="a plant", attribute="species" (no label list)."""
    thing = noun.split(" ", 1)[-1]  # "a plant" -> "plant", "an aircraft" -> "aircraft"
    return (
        f"This is an image containing {noun}. Please identify the {attribute} of the {thing} based on the image.\n"
        + _THINK_ANSWER[check_think(think)]
        + _FORMAT_HEAD
        + layout("species name", think)
        + "\n"
        + _STRICT
    )


def _dataset_prompt(noun: str, attribute: str):
    def prompt(*, think: str = "on") -> str:
        return classification(noun=noun, attribute=attribute, think=think)

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
def lisa_grounding(*, instruction: str, think: str = "on") -> str:
    """The paper's ReasonSeg training prompt (gen_sft.py question + grpo_lisa.py QUESTION_TEMPLATE)."""
    tail = {
        "on": "Output the thinking process in <think> </think> and your grouding box. "
        'Following "<think> thinking process </think>\n<answer>(x1,y1),(x2,y2)</answer>)" format.',
        "off": 'Output your grounding box. Following "<answer>(x1,y1),(x2,y2)</answer>" format.',
        "after": "Output your grounding box and then the thinking process in <think> </think>. "
        'Following "<answer>(x1,y1),(x2,y2)</answer>\n<think> thinking process </think>" format.',
    }[check_think(think)]
    return f"Output the bounding box in the image corresponding to the instruction: {instruction} {tail}"


@PROMPTS.register("detection_short")
def detection_short(*, category: str, think: str = "on") -> str:
    """Condensed detection prompt for tiny models: same answer schema, including 'No Objects'."""
    return (
        f"Detect all objects belonging to the category '{category}' in the image.\n"
        f"Answer as {layout(_DET_ANSWER, think)}"
        " or <answer>No Objects</answer>."
    )


@PROMPTS.register("classification_short")
def classification_short(*, noun: str = "object", think: str = "on") -> str:
    """Condensed classification prompt for tiny models: open-ended naming, same answer tags."""
    return f"Identify the {noun} in the image.\nAnswer as {layout('name', think)}."


@PROMPTS.register("grounding_short")
def grounding_short(*, instruction: str, think: str = "on") -> str:
    """Condensed grounding prompt for tiny models: one box, same `(x1,y1),(x2,y2)` answer."""
    return f"Find: {instruction}\nAnswer as {layout('(x1,y1),(x2,y2)', think)}."
