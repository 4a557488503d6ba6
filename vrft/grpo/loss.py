"""The GRPO policy loss: clipped importance ratio times advantage, a KL penalty, and a loss aggregation.

Shapes: B prompts, G generations per prompt, T completion tokens, N = B*G sequences.
Per token: ratio = exp(logp - old_logp); objective = min(ratio*A, clamp(ratio, 1-eps_low, 1+eps_high)*A);
loss_t = -objective + beta * KL_t, with KL_t an estimator of KL(policy || reference) taken from
d = ref_logp - logp (k1 = -d, k2 = d^2/2, k3 = exp(d) - d - 1, the paper's). The aggregation, chosen by name from
`LOSS_AGGREGATIONS`, turns the masked (N, T) per-token loss into a scalar. With old_logps = logps.detach() and
loss_type "grpo" this is the paper's single-update loss, gradients included.

GSPO (Zheng et al. 2025, arXiv:2507.18071) is `importance_sampling_level="sequence"`: one ratio per sequence,
s_i = exp(mean over the sequence's masked tokens of (logp - old_logp)), clipped and multiplied by A_i as above and
shared by all the sequence's tokens, so loss_type "grpo" gives the paper's sequence-level objective (TRL's
`importance_sampling_level="sequence"`). With old_logps = logps.detach() the ratio is 1 and GSPO equals GRPO.

Left out: gradient-accumulation scaling (the trainer divides by the number of accumulated micro-batches),
GSPO-token (a per-token ratio sg[s_i] * p_t / sg[p_t]: the same gradient as GSPO when every token of a sequence
shares one advantage, as here), dual clipping, importance-ratio-weighted ("bias-corrected") KL,
vLLM importance-sampling correction, entropy bonus.
"""

from __future__ import annotations

import torch

from vrft.registry import Registry

LOSS_AGGREGATIONS = Registry("loss aggregation")
KL_ESTIMATORS = Registry("KL estimator")
IMPORTANCE_SAMPLING_LEVELS = Registry("importance sampling level")


@KL_ESTIMATORS.register("k1")
def kl_k1(d: torch.Tensor) -> torch.Tensor:
    """k1 = -d = logp - ref_logp, per token (N, T); unbiased, high variance, can be negative."""
    return -d


@KL_ESTIMATORS.register("k2")
def kl_k2(d: torch.Tensor) -> torch.Tensor:
    """k2 = d^2 / 2, per token (N, T); low variance, biased."""
    return 0.5 * d * d


@KL_ESTIMATORS.register("k3")
def kl_k3(d: torch.Tensor) -> torch.Tensor:
    """k3 = exp(d) - d - 1, per token (N, T); unbiased, never negative (the paper's)."""
    return torch.exp(d) - d - 1


@LOSS_AGGREGATIONS.register("grpo")
def aggregate_grpo(
    per_token: torch.Tensor, mask: torch.Tensor, max_completion_length: int | None
) -> torch.Tensor:
    """Mean over the N sequences of (masked token sum / the sequence's token count); an empty sequence adds 0."""
    per_seq = (per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    return per_seq.mean()


def aggregate_token_mean(
    per_token: torch.Tensor, mask: torch.Tensor, max_completion_length: int | None
) -> torch.Tensor:
    """Masked token sum / number of masked tokens in the batch (DAPO's token-level loss)."""
    return (per_token * mask).sum() / mask.sum().clamp(min=1.0)


# TRL's "dapo" and "bnpo" differ only in whose tokens they count across processes and accumulation steps;
# for one batch they are the same formula.
LOSS_AGGREGATIONS.register("dapo")(aggregate_token_mean)
LOSS_AGGREGATIONS.register("bnpo")(aggregate_token_mean)


@LOSS_AGGREGATIONS.register("dr_grpo")
def aggregate_dr_grpo(
    per_token: torch.Tensor, mask: torch.Tensor, max_completion_length: int | None
) -> torch.Tensor:
    """Masked token sum / (N * max_completion_length), the constant defaulting to T (Dr. GRPO)."""
    length = per_token.shape[1] if max_completion_length is None else max_completion_length
    if length < 1:
        raise ValueError(f"max_completion_length must be >= 1, got {length}")
    return (per_token * mask).sum() / (per_token.shape[0] * length)


def _check_shapes(logps, old_logps, ref_logps, advantages, mask) -> None:
    if logps.dim() != 2:
        raise ValueError(f"logps must have shape (N, T), got {tuple(logps.shape)}")
    named = {"old_logps": old_logps, "ref_logps": ref_logps, "mask": mask}
    for name, tensor in named.items():
        if tensor is not None and tensor.shape != logps.shape:
            raise ValueError(
                f"{name} has shape {tuple(tensor.shape)}, expected {tuple(logps.shape)} like logps"
            )
    if advantages.shape != logps.shape[:1]:
        raise ValueError(f"advantages has shape {tuple(advantages.shape)}, expected ({logps.shape[0]},)")


def log_importance_weights(
    logps: torch.Tensor, old_logps: torch.Tensor, mask: torch.Tensor, level: str = "token"
) -> torch.Tensor:
    """Log importance ratios log(pi / pi_old): (N, T) per token for level "token"; (N, 1) for "sequence" (GSPO),
    the mean of logps - old_logps over each sequence's masked tokens (0 for a sequence with no tokens).

    Args: logps, old_logps: (N, T) per-token log-probs; mask: (N, T) 1 for tokens that count.
    """
    if level not in IMPORTANCE_SAMPLING_LEVELS:
        raise ValueError(
            f"importance_sampling_level={level!r} is invalid: must be one of {', '.join(IMPORTANCE_SAMPLING_LEVELS)}"
        )
    return IMPORTANCE_SAMPLING_LEVELS[level](logps - old_logps, mask)


@IMPORTANCE_SAMPLING_LEVELS.register("token")
def token_log_ratio(log_ratio: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N, T) a log ratio per token (GRPO)."""
    return log_ratio


@IMPORTANCE_SAMPLING_LEVELS.register("sequence")
def sequence_log_ratio(log_ratio: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N, 1) the mean log ratio over each sequence's masked tokens, 0 without tokens (GSPO)."""
    mask = mask.to(log_ratio.dtype)
    return (log_ratio * mask).sum(dim=1, keepdim=True) / mask.sum(dim=1, keepdim=True).clamp(min=1.0)


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> float:
    return ((x.detach() * mask).sum() / mask.sum().clamp(min=1.0)).item()


def _metrics(ratio, advantages, kl_tok, mask, epsilon_low, epsilon_high, per_sequence) -> dict[str, float]:
    """Masked means over the whole batch: KL per token; fraction clipped and importance ratio per token, or, when
    `per_sequence` (GSPO, ratio (N, 1)), means over all N sequences, as TRL logs them."""
    adv = advantages.unsqueeze(1)
    clipped = ((ratio < 1 - epsilon_low) & (adv < 0)) | ((ratio > 1 + epsilon_high) & (adv > 0))
    clipped = clipped.to(mask.dtype)
    if per_sequence:
        clip_fraction = clipped.mean().item() if clipped.numel() else 0.0
        ratio_mean = ratio.detach().mean().item() if ratio.numel() else 0.0
    else:
        clip_fraction, ratio_mean = _masked_mean(clipped, mask), _masked_mean(ratio, mask)
    return {
        "kl": 0.0 if kl_tok is None else _masked_mean(kl_tok, mask),
        "clip_fraction": clip_fraction,
        "ratio_mean": ratio_mean,
    }


def policy_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor | None,
    ref_logps: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    beta: float,
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
    loss_type: str = "grpo",
    max_completion_length: int | None = None,
    kl: str = "k3",
    importance_sampling_level: str = "token",
    return_metrics: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, dict[str, float]]:
    """Scalar GRPO loss (optionally with a metrics dict).

    Args:
        logps: (N, T) per-token log-probs of the completions under the policy being trained (with grad).
        old_logps: (N, T) log-probs under the policy that sampled them; None means logps.detach() (one update).
        ref_logps: (N, T) log-probs under the frozen reference; may be None when beta == 0.
        advantages: (N,) one advantage per sequence, N = B*G.
        mask: (N, T) 1 for completion tokens that count, 0 for padding after EOS.
        beta: KL coefficient; 0 switches the KL term off.
        epsilon_low, epsilon_high: clip range [1 - epsilon_low, 1 + epsilon_high] of the ratio.
        loss_type: a name in LOSS_AGGREGATIONS ("grpo", "dapo", "bnpo", "dr_grpo").
        max_completion_length: the "dr_grpo" constant (defaults to T).
        kl: a name in KL_ESTIMATORS ("k1", "k2", "k3").
        importance_sampling_level: "token" (GRPO: a ratio per token) or "sequence" (GSPO: one length-normalised
            ratio per sequence, see `log_importance_weights`).
        return_metrics: also return floats `kl` (masked mean of the KL estimate, 0 without KL), `clip_fraction`
            (masked fraction of tokens, or of the N sequences for "sequence", where the clipped branch is active)
            and `ratio_mean` (per token, or per sequence).
    """
    aggregate = LOSS_AGGREGATIONS.get(loss_type)
    estimator = KL_ESTIMATORS.get(kl)
    _check_shapes(logps, old_logps, ref_logps, advantages, mask)
    if beta != 0 and ref_logps is None:
        raise ValueError("ref_logps is required when beta != 0")
    if old_logps is None:
        old_logps = logps.detach()
    mask = mask.to(logps.dtype)
    adv = advantages.to(logps.dtype).unsqueeze(1)

    log_w = log_importance_weights(logps, old_logps, mask, importance_sampling_level)  # (N, T) | (N, 1)
    ratio = torch.exp(log_w)
    clipped_ratio = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
    per_token = -torch.minimum(ratio * adv, clipped_ratio * adv).expand_as(logps)
    kl_tok = None
    if beta != 0:
        kl_tok = estimator(ref_logps - logps)
        per_token = per_token + beta * kl_tok
    loss = aggregate(per_token, mask, max_completion_length)
    if not return_metrics:
        return loss
    per_sequence = importance_sampling_level == "sequence"
    return loss, _metrics(ratio, advantages, kl_tok, mask, epsilon_low, epsilon_high, per_sequence)
