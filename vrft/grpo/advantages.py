"""Group-relative advantages, and which groups carry a learning signal (for dynamic sampling and logging).

Rewards arrive flat, shape (N,) with N = B*G: B prompts, each with G generations in one contiguous block
(rows g*G .. g*G+G-1 belong to prompt g). Advantage = reward - its group's mean, optionally divided by a standard
deviation (the unbiased n-1 estimator, as `torch.std` in the paper's code) plus eps.

Left out: NaN handling (rewards must already be summed NaN-aware by the reward layer), multi-objective
"normalize then sum" aggregation, and any cross-process gather (callers pass whole groups).
"""

from __future__ import annotations

import torch

from vrft.registry import Registry

SCALES = Registry("reward scale")


def _grouped(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """View rewards (N,) as (B, G); a clear ValueError when the shape does not split into whole groups."""
    if rewards.dim() != 1:
        raise ValueError(f"rewards must have shape (N,), got {tuple(rewards.shape)}")
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    if rewards.numel() % group_size != 0:
        raise ValueError(
            f"rewards has {rewards.numel()} entries, not a multiple of group_size={group_size}: groups must stay whole"
        )
    return rewards.view(-1, group_size)


def _std(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Unbiased std; 0 (not NaN) where only one value is present, as TRL does for a group of one."""
    n = x.numel() if dim is None else x.shape[dim]
    if n < 2:
        return torch.zeros_like(x.sum() if dim is None else x.sum(dim))
    return x.std() if dim is None else x.std(dim)


def group_advantages(
    rewards: torch.Tensor, group_size: int, scale: str = "group", eps: float = 1e-4
) -> torch.Tensor:
    """Group-relative advantages.

    Args:
        rewards: (N,) total reward per completion, N = B*G, groups of G contiguous.
        group_size: G.
        scale: "group" divides by (within-group std + eps) (the paper), "batch" by (std over all N + eps),
            "none" does not divide (Dr. GRPO).
        eps: added to the std before dividing (the paper: 1e-4).

    Returns:
        (N,) advantages, same dtype as `rewards`.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}")
    grouped = _grouped(rewards, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    return SCALES[scale](centred, grouped, rewards, eps).reshape(-1)


@SCALES.register("group")
def scale_by_group_std(centred, grouped, rewards, eps: float) -> torch.Tensor:
    """(B, G) centred rewards divided by each group's std + eps (the paper)."""
    return centred / (_std(grouped, dim=1).unsqueeze(1) + eps)


@SCALES.register("batch")
def scale_by_batch_std(centred, grouped, rewards, eps: float) -> torch.Tensor:
    """(B, G) centred rewards divided by the std over all N rewards + eps."""
    return centred / (_std(rewards) + eps)


@SCALES.register("none")
def no_scale(centred, grouped, rewards, eps: float) -> torch.Tensor:
    """(B, G) centred rewards as they are (Dr. GRPO)."""
    return centred


def nonzero_std_groups(rewards: torch.Tensor, group_size: int, atol: float = 0.0) -> torch.Tensor:
    """Which groups carry a learning signal: (B,) bool, True where the group's rewards are not all equal.

    "All equal" is tested as max - min <= atol (exact for atol = 0, unlike a float std that can come out
    1e-9 for identical values). A group of one never has a nonzero std.
    """
    grouped = _grouped(rewards, group_size)
    spread = grouped.max(dim=1).values - grouped.min(dim=1).values
    return spread > atol


def frac_zero_std_groups(rewards: torch.Tensor, group_size: int) -> float:
    """Fraction of the B groups of rewards (N,) = (B*G,) whose rewards are all equal (no learning signal); 0.0 for
    an empty batch."""
    grouped = _grouped(rewards, group_size)
    if grouped.numel() == 0:
        return 0.0
    return (~nonzero_std_groups(rewards.detach(), group_size)).double().mean().item()
