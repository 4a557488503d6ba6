"""Verifiable rewards of Visual-RFT as pure functions with TRL's reward signature, in one registry.

`REWARDS` holds `format`, `accuracy` (classification), `iou` and `confidence` (detection) and `giou`
(grounding). Each is `fn(completions, solution, **columns) -> list[float | None]`: None where the sample is not
of the reward's kind, so mixed-task batches work. Parsers live in `parse` (shared with evaluation), weighting in
`combine`, hacking monitors in `monitors`. Every reward takes `compat` (`hardened`, default, or `official`: the
official code's scores, from `official`); `compat` lists where the two differ. Leaves out: torch, I/O and
coordinate conventions.
"""

from vrft.rewards.base import REWARDS
from vrft.rewards.classification import accuracy_reward
from vrft.rewards.detection import confidence_reward, iou_reward
from vrft.rewards.format import format_reward
from vrft.rewards.grounding import giou_reward

__all__ = ["REWARDS", "accuracy_reward", "confidence_reward", "format_reward", "giou_reward", "iou_reward"]
