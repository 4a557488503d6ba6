"""GRPO: group advantages, the policy loss and its aggregations, per-token log-probs and masks."""

from vrft.grpo.advantages import group_advantages, group_stats, nonzero_std_groups
from vrft.grpo.logprobs import completion_mask, selective_log_softmax, token_entropy
from vrft.grpo.loss import KL_ESTIMATORS, LOSS_AGGREGATIONS, policy_loss

__all__ = [
    "KL_ESTIMATORS",
    "LOSS_AGGREGATIONS",
    "completion_mask",
    "group_advantages",
    "group_stats",
    "nonzero_std_groups",
    "policy_loss",
    "selective_log_softmax",
    "token_entropy",
]
