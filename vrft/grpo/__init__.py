"""GRPO, the algorithm: group advantages, the policy loss and its aggregations, the frozen reference, and the
GRPO LightningModule. How tokens and their log-probs are produced is vrft.rollout's."""

from vrft.grpo.advantages import frac_zero_std_groups, group_advantages, nonzero_std_groups
from vrft.grpo.loss import KL_ESTIMATORS, LOSS_AGGREGATIONS, policy_loss

__all__ = [
    "KL_ESTIMATORS",
    "LOSS_AGGREGATIONS",
    "frac_zero_std_groups",
    "group_advantages",
    "nonzero_std_groups",
    "policy_loss",
]
