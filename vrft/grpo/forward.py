"""Per-token log-probs of completions under a model: one forward over prompt + completion.

Only the last T+1 positions' logits are computed (`logits_to_keep`), and only the taken tokens' log-probs are
gathered (`selective_log_softmax`), so the full (N, T, V) log-softmax is never materialised. Logits are divided
by the sampling temperature, so the ratio is taken against the distribution that was sampled. Left out: packing
several sequences into one row.
"""

from __future__ import annotations

import torch

from vrft.grpo.batching import Rollout, forward_inputs
from vrft.grpo.logprobs import selective_log_softmax, token_entropy


def sequence_logps(model, r: Rollout, *, temperature: float = 1.0, with_entropy: bool = False):
    """(logps (N, T), entropy (N, T) or None) for the rollout's completion tokens."""
    T = r.completion_ids.shape[1]
    out = model(**forward_inputs(r), logits_to_keep=T + 1, use_cache=False)
    logits = out.logits[:, :-1, :].float() / temperature
    logps = selective_log_softmax(logits, r.completion_ids)
    entropy = None
    if with_entropy:
        with torch.no_grad():
            entropy = token_entropy(logits.detach())
    return logps, entropy
