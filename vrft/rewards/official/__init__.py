"""The official Visual-RFT reward code's rules as their own registered reward set (`reward.compat=official`).

`OFFICIAL_REWARDS` holds `format`, `accuracy`, `iou`, `confidence` and `giou` with the same names and TRL signature
as the hardened set (vrft.rewards), scoring as the official code does, bugs and math_verify pre-check included
(`rules`). `differences` detects, per completion, each condition under which the two sets may score differently
(the compat monitors). Leaves out: choosing a set (vrft.rewards.sets).
"""

from vrft.rewards.official.rewards import OFFICIAL_REWARDS

__all__ = ["OFFICIAL_REWARDS"]
