"""Tensor plumbing between a collated prompt batch, its G rollouts and the log-prob forward passes.

A collated batch holds B prompts (left-padded `input_ids`, `attention_mask`, `mm_token_type_ids`) and their images
as Qwen-VL flattened patches (`pixel_values`: (sum of patches, D), `image_grid_thw`: (B, 3)). A rollout adds G
completions per prompt, contiguous per group (rows g*G .. g*G+G-1 belong to prompt g). Left out: video inputs and
several images per prompt (each prompt has exactly one image here).
"""

from __future__ import annotations

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
    prefix: object | None = (
        None  # the rollout's prompt prefill with its graph (vrft.grpo.prefill.Prefix), or None
    )

    @property
    def num_sequences(self) -> int:
        return self.completion_ids.shape[0]

    def rows(self, idx: list[int]) -> Rollout:
        """A sub-rollout of whole groups: `idx` lists group indices (without the kept prefill: its rows are the
        whole batch's)."""
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


def pad_right(seqs: list[torch.Tensor], pad_value: int) -> torch.Tensor:
    """Stack 1-D tensors of different lengths into (len(seqs), max_len), padding on the right."""
    width = max((s.numel() for s in seqs), default=0)
    out = torch.full((len(seqs), width), pad_value, dtype=seqs[0].dtype if seqs else torch.long)
    for i, s in enumerate(seqs):
        out[i, : s.numel()] = s
    return out
