"""The frozen reference model of the KL term.

A frozen deep copy of the starting policy (full fine-tuning), or the policy itself with its LoRA adapter disabled
(peft). Not built at all when beta = 0. Never trained, never synced, never checkpointed. Left out: TR-DPO style
periodic reference refresh.
"""

from __future__ import annotations

import copy

import torch

from vrft.rollout.batching import Rollout
from vrft.rollout.logps import LogProbs


class Reference:
    def __init__(self, policy: torch.nn.Module, *, adapter: bool, logps: LogProbs):
        self.adapter = adapter
        self.policy = policy
        self.pass_ = logps
        self.model = None
        if not adapter:
            self.model = copy.deepcopy(policy).eval()
            self.model.requires_grad_(False)

    def to(self, device) -> Reference:
        if self.model is not None:
            self.model.to(device)
        return self

    @torch.no_grad()
    def logps(self, r: Rollout) -> torch.Tensor:
        """(N, T) the reference's log-probs of the rollout's completion tokens."""
        if self.adapter:
            with self.policy.disable_adapter():
                return self.pass_(self.policy, r)[0]
        return self.pass_(self.model, r)[0]


def build_reference(policy: torch.nn.Module, *, beta: float, lora: bool, logps: LogProbs) -> Reference | None:
    """None when beta == 0 (no KL term, nothing loaded)."""
    if beta == 0:
        return None
    return Reference(policy, adapter=lora, logps=logps)
