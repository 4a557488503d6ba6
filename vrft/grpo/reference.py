"""The frozen reference model of the KL term.

A frozen deep copy of the starting policy (full fine-tuning), or the policy itself with its LoRA adapter disabled
(peft). Not built at all when beta = 0. Never trained, never synced, never checkpointed. Left out: TR-DPO style
periodic reference refresh.
"""

from __future__ import annotations

import copy

import torch

from vrft.grpo.batching import Rollout
from vrft.grpo.forward import sequence_logps


class Reference:
    def __init__(self, policy: torch.nn.Module, *, adapter: bool):
        self.adapter = adapter
        self.policy = policy
        self.model = None
        if not adapter:
            self.model = copy.deepcopy(policy).eval()
            self.model.requires_grad_(False)

    def to(self, device) -> Reference:
        if self.model is not None:
            self.model.to(device)
        return self

    @torch.no_grad()
    def logps(self, r: Rollout, *, temperature: float = 1.0) -> torch.Tensor:
        if self.adapter:
            with self.policy.disable_adapter():
                return sequence_logps(self.policy, r, temperature=temperature)[0]
        return sequence_logps(self.model, r, temperature=temperature)[0]


def build_reference(policy: torch.nn.Module, *, beta: float, lora: bool) -> Reference | None:
    """None when beta == 0 (no KL term, nothing loaded)."""
    if beta == 0:
        return None
    return Reference(policy, adapter=lora)
