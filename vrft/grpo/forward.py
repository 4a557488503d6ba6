"""Per-token log-probs of completions under a model: one forward over prompt + completion.

Only the logits that predict completion tokens are computed (`logits_to_keep`), and only the taken tokens'
log-probs are gathered (`selective_log_softmax`), so the full (N, T, V) log-softmax is never materialised. Logits
are divided by the sampling temperature, so the ratio is taken against the distribution that was sampled.

With `shared_prefill` (default) a group's prompt and image run once and the G completions run on top of its
repeated cache (vrft.grpo.prefill), in the policy pass with gradients too; this is the same function of the
weights as the plain forward, and agrees with it up to floating-point rounding. The plain forward is taken for
models without mRoPE `rope_deltas`, for a gradient pass under activation checkpointing, and for rollouts whose
rows are not grouped by prompt. Left out: packing several sequences into one row.
"""

from __future__ import annotations

import torch

from vrft.grpo.batching import Rollout, forward_inputs
from vrft.grpo.logprobs import selective_log_softmax, token_entropy
from vrft.grpo.prefill import can_share, same_prompt_per_group, shared_completion_logits


def completion_logit_parts(model, r: Rollout, *, shared_prefill: bool = True) -> list[torch.Tensor]:
    """Logits whose position t predicts completion token t, as consecutive parts along T (each (N, T_i, V))."""
    shared = (
        shared_prefill
        and r.group_size > 1
        and can_share(model, grad=torch.is_grad_enabled())
        and same_prompt_per_group(r)
    )
    if shared:
        return shared_completion_logits(model, r)
    T = r.completion_ids.shape[1]
    out = model(**forward_inputs(r), logits_to_keep=T + 1, use_cache=False)
    return [out.logits[:, :-1, :]]


def sequence_logps(
    model, r: Rollout, *, temperature: float = 1.0, with_entropy: bool = False, shared_prefill: bool = True
):
    """(logps (N, T), entropy (N, T) or None) for the rollout's completion tokens."""
    parts = completion_logit_parts(model, r, shared_prefill=shared_prefill)
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
