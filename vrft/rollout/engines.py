"""The rollout engines behind one protocol, registered in one place: `ROLLOUTS` maps `rollout.engine` to a factory
`(RolloutSpec, Tokens, processor) -> Engine`.

An `Engine` samples G completions per prompt of a collated batch: `engine.sample(policy, inputs, G, images=...,
keep_prefill=...)` returns the `Rollout` and, where asked and possible, the `KeptPrefill` for the policy pass;
`engine(policy, inputs, G)` is the rollout alone. `after_update(policy)` tells an engine holding its own copy of
the weights (vLLM) that they are stale. `hf` (vrft.rollout.hf) runs anywhere; `vllm` (vrft.rollout.vllm) needs a
GPU and fails at start with a clear message where vLLM is absent. Left out: remote (server-mode) engines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from vrft.registry import Registry
from vrft.rollout.spec import RolloutSpec

if TYPE_CHECKING:  # kept light: the config schema reads the registry's names before torch may load
    import torch

    from vrft.rollout.batching import Rollout
    from vrft.rollout.prefill import KeptPrefill
    from vrft.rollout.sampling import Tokens

ROLLOUTS = Registry("rollout engine")


class Engine(Protocol):
    def sample(
        self,
        model,
        inputs: dict[str, torch.Tensor],
        group_size: int,
        *,
        images=None,
        keep_prefill: bool = False,
    ) -> tuple[Rollout, KeptPrefill | None]: ...

    def __call__(self, model, inputs: dict[str, torch.Tensor], group_size: int, images=None) -> Rollout: ...

    def after_update(self, policy) -> None: ...


@ROLLOUTS.register("hf")
def hf_engine(spec: RolloutSpec, tokens: Tokens, processor=None) -> Engine:
    """transformers, with a shared prefill and the lean CPU decode path (vrft.rollout.hf)."""
    from vrft.rollout.hf import HFRollout

    return HFRollout(spec, tokens, processor)


@ROLLOUTS.register("vllm")
def vllm_engine(spec: RolloutSpec, tokens: Tokens, processor=None) -> Engine:
    """The colocated vLLM engine (vrft.rollout.vllm); raises ConfigError at once where vLLM is absent."""
    from vrft.rollout.vllm import VLLMRollout

    return VLLMRollout(spec, tokens, processor)


def build_engine(spec: RolloutSpec, tokens: Tokens, processor=None) -> Engine:
    """The engine `spec.engine` names (an unknown name lists the valid ones)."""
    return ROLLOUTS.get(spec.engine)(spec, tokens, processor)
