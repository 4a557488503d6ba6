"""The rollout record and the tensor plumbing between a collated prompt batch, its G rollouts and the log-prob
forward passes: `Rollout`, `build_rollout` (every engine's sampled ids become one), `completion_mask`.

A collated batch holds B prompts (left-padded `input_ids`, `attention_mask`, `mm_token_type_ids`) and their images
as Qwen-VL flattened patches (`pixel_values`: (sum of patches, D), `image_grid_thw`: (B, 3)). A rollout adds G
completions per prompt, contiguous per group (rows g*G .. g*G+G-1 belong to prompt g). Left out: video inputs and
several images per prompt (each prompt has exactly one image here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

VISION_KEYS = ("pixel_values", "image_grid_thw")


def patches_per_image(image_grid_thw: torch.Tensor) -> list[int]:
    """Number of rows of `pixel_values` that belong to each image: t * h * w."""
    return image_grid_thw.prod(dim=-1).tolist()


def repeat_vision(inputs: dict[str, torch.Tensor], repeats: int) -> dict[str, torch.Tensor]:
    """Repeat each image's patches `repeats` times, image by image (matches repeat_interleave of the prompts)."""
    if repeats == 1 or "pixel_values" not in inputs:
        return {k: inputs[k] for k in VISION_KEYS if k in inputs}
    chunks = torch.split(inputs["pixel_values"], patches_per_image(inputs["image_grid_thw"]))
    pixel_values = torch.cat([c for c in chunks for _ in range(repeats)])
    return {
        "pixel_values": pixel_values,
        "image_grid_thw": inputs["image_grid_thw"].repeat_interleave(repeats, 0),
    }


def select_vision(inputs: dict[str, torch.Tensor], rows: list[int]) -> dict[str, torch.Tensor]:
    """The vision inputs of the given prompt rows, in that order."""
    if "pixel_values" not in inputs:
        return {}
    chunks = torch.split(inputs["pixel_values"], patches_per_image(inputs["image_grid_thw"]))
    return {
        "pixel_values": torch.cat([chunks[r] for r in rows]),
        "image_grid_thw": inputs["image_grid_thw"][rows],
    }


@dataclass
class Rollout:
    """G completions for each of B prompts, flattened to N = B*G rows (groups contiguous).

    prompt_ids/prompt_mask/prompt_mm: (N, P) left-padded prompts repeated per completion;
    completion_ids/completion_mask: (N, T), completion tokens after the first EOS are padding; vision: pixel_values/image_grid_thw repeated per completion.
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    prompt_mm: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    vision: dict[str, torch.Tensor]
    group_size: int
    truncated: torch.Tensor | None = None  # (N,) bool: hit the length cap without an end-of-sequence token

    @property
    def num_sequences(self) -> int:
        return self.completion_ids.shape[0]

    def rows(self, idx: list[int]) -> Rollout:
        """A sub-rollout of whole groups: `idx` lists group indices."""
        seq = [g * self.group_size + j for g in idx for j in range(self.group_size)]
        vis_rows = seq if self.vision else []
        return Rollout(
            prompt_ids=self.prompt_ids[seq],
            prompt_mask=self.prompt_mask[seq],
            prompt_mm=self.prompt_mm[seq],
            completion_ids=self.completion_ids[seq],
            completion_mask=self.completion_mask[seq],
            vision=select_vision(self.vision, vis_rows) if self.vision else {},
            group_size=self.group_size,
            truncated=self.truncated[seq] if self.truncated is not None else None,
        )


def forward_inputs(r: Rollout) -> dict[str, torch.Tensor]:
    """Model inputs for prompt + completion: ids, attention mask (completion padding masked), mm types, vision."""
    input_ids = torch.cat([r.prompt_ids, r.completion_ids], dim=1)
    attention_mask = torch.cat([r.prompt_mask, r.completion_mask.to(r.prompt_mask.dtype)], dim=1)
    mm = torch.cat([r.prompt_mm, torch.zeros_like(r.completion_ids, dtype=r.prompt_mm.dtype)], dim=1)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "mm_token_type_ids": mm, **r.vision}


def completion_mask(completion_ids: torch.Tensor, eos_ids: int | Sequence[int]) -> torch.Tensor:
    """Mask of the tokens that count: completion_ids (N, T) -> LongTensor (N, T).

    1 up to and including the first EOS of each row (any of `eos_ids`, one id or several), 0 after it; all ones in
    a row without EOS (a truncated completion still counts, as in the paper's code).
    """
    if completion_ids.dim() != 2:
        raise ValueError(f"completion_ids must have shape (N, T), got {tuple(completion_ids.shape)}")
    eos = torch.as_tensor(eos_ids, device=completion_ids.device).reshape(-1)
    is_eos = torch.isin(completion_ids, eos)
    seen_before = (is_eos.cumsum(dim=1) - is_eos.long()) > 0
    return (~seen_before).long()


def build_rollout(
    inputs: dict[str, torch.Tensor],
    completion_ids: torch.Tensor,
    group_size: int,
    eos_ids: list[int],
    pad_id: int,
) -> Rollout:
    """A Rollout from B prompts and their (B*G, T) sampled ids: padding after the first EOS, trailing all-padding
    columns dropped (a row that ended on its first token can leave some), prompts and images repeated G times."""
    mask = completion_mask(completion_ids, eos_ids)
    width = max(1, int(mask.sum(dim=1).max()))
    completion_ids, mask = completion_ids[:, :width], mask[:, :width]
    ended = torch.isin(completion_ids, torch.tensor(eos_ids, device=completion_ids.device)).any(dim=1)
    completion_ids = completion_ids.masked_fill(mask == 0, pad_id)
    rep = lambda t: t.repeat_interleave(group_size, dim=0)  # noqa: E731
    return Rollout(
        prompt_ids=rep(inputs["input_ids"]),
        prompt_mask=rep(inputs["attention_mask"]),
        prompt_mm=rep(inputs["mm_token_type_ids"]),
        completion_ids=completion_ids,
        completion_mask=mask,
        vision=repeat_vision(inputs, group_size),
        group_size=group_size,
        truncated=~ended,
    )
