"""Model-facing rows: a dataset record turned into prompt text and an `<answer>` solution.

`to_row(record, prompt_name, codec, think=mode)` gives `{"image", "problem", "solution", "kind", "meta"}`:
`problem` is the registered prompt in the `prompt.think` layout (the same function at training and evaluation),
`solution` is the ground truth in the answer format the rewards parse, with boxes in the model family's
coordinate space (the codec), and `meta` holds JSON-able facts evaluation needs (image id, category, size, label,
the absolute grounding box). `sft_target` gives the supervised target in the same layout. Left out: image decoding and resizing (DataLoader workers do that), chat templates.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from vrft.data.prompts import PROMPTS
from vrft.data.records import ClassificationRecord, DetectionRecord, GroundingRecord, Record
from vrft.errors import ConfigError
from vrft.models.codec import Codec
from vrft.rewards.format import check_think

SFT_THOUGHT = "<think>...</think>"
"""The placeholder reasoning of SFT targets with a thought (the data has no reasoning text)."""
_OWN_THOUGHT = re.compile(r"<think>.*?</think>", re.DOTALL)


def _problem(prompt_name: str, fields: dict[str, Any], think: str) -> str:
    prompt = PROMPTS.get(prompt_name)
    try:
        inspect.signature(prompt).bind(**fields, think=think)
    except TypeError as err:
        raise ConfigError(
            f"prompt {prompt_name!r} does not take fields {sorted(fields)} and think: {err}"
        ) from None
    return prompt(**fields, think=check_think(think))


def detection_solution(boxes_model: list[list[int]]) -> str:
    """`<answer>[{'Position': [x1, y1, x2, y2], 'Confidence': 1}, ...]</answer>`, or `No Objects` when empty."""
    if not boxes_model:
        return "<answer>No Objects</answer>"
    items = ", ".join(
        f"{{'Position': [{', '.join(str(v) for v in b)}], 'Confidence': 1}}" for b in boxes_model
    )
    return f"<answer>[{items}]</answer>"


def grounding_solution(box_model: list[int]) -> str:
    """`<answer>(x1,y1),(x2,y2)</answer>`."""
    x1, y1, x2, y2 = box_model
    return f"<answer>({x1},{y1}),({x2},{y2})</answer>"


def _parts(record: Record, codec: Codec) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    """(kind, prompt fields from the record, solution, meta) for one record."""
    if isinstance(record, DetectionRecord):
        boxes = [codec.encode(b, record.width, record.height) for b in record.boxes]
        meta = {
            "image_id": record.image_id,
            "category": record.category,
            "category_id": record.category_id,
            "width": record.width,
            "height": record.height,
        }
        return "detection", {"category": record.category}, detection_solution(boxes), meta
    if isinstance(record, GroundingRecord):
        box = codec.encode(record.box, record.width, record.height)
        meta = {
            "image_id": record.image_id,
            "width": record.width,
            "height": record.height,
            "box_abs": [float(v) for v in record.box],
        }
        return "grounding", {"instruction": record.instruction}, grounding_solution(box), meta
    if isinstance(record, ClassificationRecord):
        meta = {"image_id": record.image_id, "label": record.label, "label_id": record.label_id}
        return "classification", {}, f"<answer>{record.label}</answer>", meta
    raise TypeError(f"not a dataset record: {type(record).__name__}")


def to_row(
    record: Record,
    prompt_name: str,
    codec: Codec,
    prompt_fields: dict[str, Any] | None = None,
    think: str = "on",
) -> dict[str, Any]:
    """The model-facing row of one record; `prompt_fields` add to (and override) the record's prompt fields;
    `think` is the layout the prompt asks for (`prompt.think`)."""
    kind, fields, solution, meta = _parts(record, codec)
    fields = {**fields, **(prompt_fields or {})}
    return {
        "image": record.image,
        "problem": _problem(prompt_name, fields, think),
        "solution": solution,
        "kind": kind,
        "meta": meta,
    }


def sft_target(row: dict[str, Any], thought: bool = False, think: str = "on") -> str:
    """The SFT target: the solution alone (the paper's answer-only SFT), or with `thought` (`algo.sft_think`) a
    placeholder thought where the `think` layout (`prompt.think`) puts it: before the answer (`on`), after it
    (`after`), nowhere (`off`). A solution that starts with its own `<think>...</think>` (the synthetic world's
    `thought: scene` rows) keeps it in the `on` layout, in place of the placeholder, and loses it in the others."""
    solution = row["solution"]
    own = _OWN_THOUGHT.match(solution)
    if own and check_think(think) == "on":
        return solution
    answer = solution[own.end() :] if own else solution
    if not thought or check_think(think) == "off":
        return answer
    return SFT_THOUGHT + answer if think == "on" else answer + SFT_THOUGHT
