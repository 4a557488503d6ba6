"""Per-token log-probs and entropies, from logits and sampled ids.

Shapes: N sequences (B prompts x G generations), T completion tokens, V vocabulary. Both log-prob and entropy
work on one slice of rows at a time, so a float32 copy of the full (N, T, V) logits is never held at once;
half-precision logits are upcast slice by slice and the results are float32.

Left out: the model forward itself, the one-position shift of logits against ids (the caller passes logits
already aligned with the tokens they score), temperature scaling, the completion mask (vrft.rollout.batching), and fused kernels.
"""

from __future__ import annotations

import torch


def _upcast(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def selective_log_softmax(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """log_softmax(logits)[..., index], one leading row at a time.

    Args:
        logits: (N, T, V) (any (N, ..., V) works).
        index: (N, T) token ids, same leading shape as logits.

    Returns:
        (N, T) log-probs of the indexed tokens, float32 (float64 for float64 logits).
    """
    if logits.dim() < 2 or logits.shape[:-1] != index.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and index {tuple(index.shape)} must be (N, T, V) and (N, T)"
        )
    if logits.shape[0] == 0:
        return torch.zeros(index.shape, dtype=_upcast(logits).dtype, device=logits.device)
    rows = []
    for row_logits, row_index in zip(logits, index, strict=True):
        row = _upcast(row_logits)
        taken = row.gather(-1, row_index.unsqueeze(-1)).squeeze(-1)
        rows.append(taken - torch.logsumexp(row, dim=-1))
    return torch.stack(rows)


def token_entropy(logits: torch.Tensor, chunk_size: int = 128) -> torch.Tensor:
    """Entropy (nats) of each next-token distribution: logits (N, T, V) -> (N, T), `chunk_size` rows of V at a time."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    flat = logits.reshape(-1, logits.shape[-1])
    chunks = []
    for chunk in flat.split(chunk_size, dim=0):
        logp = torch.log_softmax(_upcast(chunk), dim=-1)
        chunks.append(-(logp.exp() * logp).sum(dim=-1))
    if not chunks:
        return torch.zeros(logits.shape[:-1], dtype=_upcast(logits).dtype, device=logits.device)
    return torch.cat(chunks).reshape(logits.shape[:-1])
