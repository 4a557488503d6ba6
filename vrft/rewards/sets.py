"""The reward sets `reward.compat` chooses between: `hardened` (vrft.rewards: this project's rules, each difference
from the official code chosen on purpose) and `official` (vrft.rewards.official: the official code's scores, bugs
included). Both hold the same names with the same signature, so a reward config works with either. Leaves out:
weighting and scoring (vrft.rewards.combine).
"""

from __future__ import annotations

from vrft.errors import ConfigError
from vrft.registry import Registry
from vrft.rewards.base import REWARDS
from vrft.rewards.official import OFFICIAL_REWARDS

REWARD_SETS = Registry("reward set")
REWARD_SETS.register("hardened")(REWARDS)
REWARD_SETS.register("official")(OFFICIAL_REWARDS)


def reward_set(compat: str) -> Registry:
    """The registry of rewards `reward.compat=<compat>` scores with; an unknown name is a config error."""
    if compat not in REWARD_SETS:
        raise ConfigError(
            f"reward.compat={compat!r} is invalid: must be one of {', '.join(sorted(REWARD_SETS))}"
        )
    return REWARD_SETS[compat]
