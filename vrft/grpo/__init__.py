"""GRPO, the algorithm: group advantages, the policy loss and its aggregations, the frozen reference, and the
GRPO LightningModule. How tokens and their log-probs are produced is vrft.rollout's."""

from vrft.grpo.advantages import group_advantages, group_stats, nonzero_std_groups
from vrft.grpo.loss import KL_ESTIMATORS, LOSS_AGGREGATIONS, policy_loss

__all__ = [
    "KL_ESTIMATORS",
    "LOSS_AGGREGATIONS",
    "group_advantages",
    "group_stats",
    "nonzero_std_groups",
    "policy_loss",
]
