"""Per-token log-probs of a rollout's completions under a model: the passes of the reference, the old policy and the
policy being trained.

Only the logits that predict completion tokens are computed (`logits_to_keep`), and only the taken tokens'
log-probs are gathered (`selective_log_softmax`), so the full (N, T, V) log-softmax is never materialised. Logits
are divided by the sampling temperature, so the ratio is taken against the distribution that was sampled.

With `shared_prefill` (`rollout.shared_prefill`, default) a group's prompt and image run once and the G completions
run on top of its repeated cache (vrft.rollout.prefill), in the policy pass with gradients too, where a rollout's
`KeptPrefill` spares even that prefill; this is the same function of the weights as the plain forward, and agrees
with it up to floating-point rounding. The plain forward is taken with the switch off, for models without mRoPE
`rope_deltas`, for a gradient pass under activation checkpointing, and for rollouts whose rows are not grouped by
prompt. Left out: packing several sequences into one row.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vrft.rollout.batching import Rollout, forward_inputs
from vrft.rollout.logprobs import selective_log_softmax, token_entropy
from vrft.rollout.prefill import KeptPrefill, can_share, same_prompt_per_group, shared_completion_logits


def completion_logit_parts(
    model, r: Rollout, *, shared_prefill: bool = True, kept: KeptPrefill | None = None
) -> list[torch.Tensor]:
    """Logits whose position t predicts completion token t, as consecutive parts along T (each (N, T_i, V))."""
    shared = (
        shared_prefill
        and r.group_size > 1
        and can_share(model, grad=torch.is_grad_enabled())
        and same_prompt_per_group(r)
    )
    if shared:
        return shared_completion_logits(model, r, kept)
    T = r.completion_ids.shape[1]
    out = model(**forward_inputs(r), logits_to_keep=T + 1, use_cache=False)
    return [out.logits[:, :-1, :]]


def sequence_logps(
    model,
    r: Rollout,
    *,
    temperature: float = 1.0,
    with_entropy: bool = False,
    shared_prefill: bool = True,
    kept: KeptPrefill | None = None,
):
    """(logps (N, T), entropy (N, T) or None) for the rollout's completion tokens."""
    parts = completion_logit_parts(model, r, shared_prefill=shared_prefill, kept=kept)
    # x / 1.0 is x: at temperature 1 no pass over the logits (and none in the backward)
    if temperature != 1.0:
        parts = [p.float() / temperature for p in parts]
    ids = r.completion_ids.split([p.shape[1] for p in parts], dim=1)
    logps = torch.cat([selective_log_softmax(p.float(), i) for p, i in zip(parts, ids, strict=True)], dim=1)
    entropy = None
    if with_entropy:
        with torch.no_grad():
            entropy = torch.cat([token_entropy(p.detach().float()) for p in parts], dim=1)
    return logps, entropy


@dataclass(frozen=True)
class LogProbs:
    """The log-prob pass of a run: `sequence_logps` at the sampling temperature, with the `rollout.shared_prefill`
    switch, for the reference, old-policy and policy passes alike."""

    temperature: float = 1.0
    shared_prefill: bool = True

    def __call__(self, model, r: Rollout, *, with_entropy: bool = False, kept: KeptPrefill | None = None):
        return sequence_logps(
            model,
            r,
            temperature=self.temperature,
            with_entropy=with_entropy,
            shared_prefill=self.shared_prefill,
            kept=kept,
        )
