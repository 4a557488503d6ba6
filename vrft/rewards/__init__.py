"""Verifiable rewards of Visual-RFT as pure functions with TRL's reward signature, in registered sets.

`REWARDS` holds `format`, `accuracy` (classification), `iou`, `confidence`, `map` and `count` (detection) and
`giou` (grounding), this project's (`hardened`) rules. Each is `fn(completions, solution, **columns) -> list[float |
None]`: None where the sample is not of the reward's kind, so mixed-task batches work. `official` holds the
paper's names (not `map` or `count`) scored by the official code's rules; `sets.REWARD_SETS` maps `reward.compat` to one of the two. Parsers live
in `parse` (shared with evaluation), weighting in `combine`, hacking monitors in `monitors`. Leaves out: torch, I/O
and coordinate conventions.
"""

from vrft.rewards.base import REWARDS
from vrft.rewards.classification import accuracy_reward
from vrft.rewards.detection import confidence_reward, iou_reward
from vrft.rewards.detection_map import count_reward, map_reward
from vrft.rewards.format import format_reward
from vrft.rewards.grounding import giou_reward
from vrft.rewards.sets import REWARD_SETS, reward_set

__all__ = [
    "REWARDS",
    "REWARD_SETS",
    "accuracy_reward",
    "confidence_reward",
    "count_reward",
    "format_reward",
    "giou_reward",
    "iou_reward",
    "map_reward",
    "reward_set",
]
