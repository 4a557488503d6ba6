"""Every N GRPO steps, hand a few rollouts to the experiment loggers as a table of samples (`log_samples`).

Each sample: the image, the prompt, the completion, every reward, and (detection/grounding) the predicted and
true boxes in absolute pixels, decoded through the model family's codec from the same parser the rewards use.
Left out: choosing "interesting" samples; the first prompt's group is shown.
"""

from __future__ import annotations

from vrft.logging.samples import log_samples
from vrft.rewards.parse import extract_answer, parse_detection, parse_grounding


def answer_boxes(text: str, kind: str) -> list[tuple[float, ...]]:
    """Boxes in the answer of `text`, in the model's coordinate space (detection and grounding only)."""
    answer = extract_answer(text)
    if kind == "detection":
        return [b.position for b in parse_detection(answer).boxes if b.valid and b.position]
    if kind == "grounding":
        box = parse_grounding(answer)
        return [box] if box else []
    return []


class SampleLogger:
    def __init__(self, loggers, codec, *, every: int, max_rows: int = 8):
        self.loggers = loggers
        self.codec = codec
        self.every = every
        self.max_rows = max_rows

    def __call__(self, module, batch: dict, rollouts, scores) -> None:
        step = module.global_step
        if self.every <= 0 or step % self.every or not self.loggers:
            return
        mb, s = batch["micro"][0], scores[0]
        image, meta, kind = mb["images"][0], mb["meta"][0] or {}, mb["kind"][0]
        rows = []
        for j in range(min(self.max_rows, rollouts[0].group_size)):
            rows.append(
                {
                    "image": image,
                    "prompt": mb["problem"][0],
                    "completion": s.completions[j],
                    "rewards": dict(zip(s.names, s.matrix[j], strict=True)),
                    "pred_boxes": self.decode(answer_boxes(s.completions[j], kind), meta),
                    "gt_boxes": self.decode(answer_boxes(mb["solution"][0], kind), meta),
                }
            )
        log_samples(self.loggers, step, rows)

    def decode(self, boxes, meta: dict) -> list[tuple[float, ...]]:
        if "width" not in meta:
            return []
        return [self.codec.decode(b, meta["width"], meta["height"]) for b in boxes]
