"""Rollout engines: sample G completions per prompt. One registry, `ROLLOUTS`; `hf` (transformers generate) is the
default and runs anywhere; `vllm` is for GPU users and fails at start with a clear message where vLLM is absent.

Every sampling setting is passed explicitly (temperature, top_p, top_k, repetition_penalty, max_new_tokens):
Qwen2-VL ships a near-greedy generation_config (top_k=1, top_p=0.001) that would otherwise fill unset values and
make every completion of a group identical. Left out: speculative decoding, continuous batching.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import GenerationConfig

from vrft.errors import ConfigError
from vrft.grpo.batching import Rollout, repeat_vision
from vrft.registry import Registry

ROLLOUTS = Registry("rollout engine")


@dataclass(frozen=True)
class SamplingSpec:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 50
    max_new_tokens: int = 256
    do_sample: bool = True


def generation_config(
    s: SamplingSpec, *, num_return_sequences: int, eos_ids: list[int], pad_id: int, suppress_ids: list[int]
) -> GenerationConfig:
    """A GenerationConfig with every result-changing value set, so nothing is inherited from the checkpoint."""
    sampling = {"temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k} if s.do_sample else {}
    return GenerationConfig(
        do_sample=s.do_sample,
        max_new_tokens=s.max_new_tokens,
        num_return_sequences=num_return_sequences,
        repetition_penalty=1.0,
        eos_token_id=eos_ids,
        pad_token_id=pad_id,
        suppress_tokens=suppress_ids or None,
        use_cache=True,
        **sampling,
    )


def mask_after_eos(completion_ids: torch.Tensor, eos_ids: list[int]) -> torch.Tensor:
    """(N, T) mask: 1 up to and including the first EOS (any of `eos_ids`), 0 after; all ones without EOS."""
    is_eos = torch.isin(completion_ids, torch.tensor(eos_ids, device=completion_ids.device))
    seen_before = (is_eos.cumsum(dim=1) - is_eos.long()) > 0
    return (~seen_before).long()


@ROLLOUTS.register("hf")
class HFRollout:
    """transformers `generate` with `num_return_sequences=G` (the model expands images per sequence itself)."""

    def __init__(self, sampling: SamplingSpec, *, eos_ids: list[int], pad_id: int, suppress_ids: list[int]):
        self.sampling = sampling
        self.eos_ids = eos_ids
        self.pad_id = pad_id
        self.suppress_ids = suppress_ids

    @torch.no_grad()
    def __call__(self, model, inputs: dict[str, torch.Tensor], group_size: int) -> Rollout:
        cfg = generation_config(
            self.sampling,
            num_return_sequences=group_size,
            eos_ids=self.eos_ids,
            pad_id=self.pad_id,
            suppress_ids=self.suppress_ids,
        )
        was_training = model.training
        model.eval()
        out = model.generate(**inputs, generation_config=cfg)
        model.train(was_training)
        prompt_len = inputs["input_ids"].shape[1]
        completion_ids = out[:, prompt_len:]
        mask = mask_after_eos(completion_ids, self.eos_ids)
        ended = torch.isin(completion_ids, torch.tensor(self.eos_ids, device=completion_ids.device)).any(
            dim=1
        )
        completion_ids = completion_ids.masked_fill(mask == 0, self.pad_id)
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


@ROLLOUTS.register("vllm")
class VLLMRollout:
    """vLLM colocated engine (GPU). Needs `pip install vllm`; the weights are synced after each update."""

    def __init__(self, *args, **kwargs):
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise ConfigError(
                "rollout=vllm needs the vllm package (pip install vllm, on a CUDA machine); use rollout=hf here"
            ) from None
        raise ConfigError(
            "rollout=vllm: the vLLM engine is not available in this version of vrft; use rollout=hf"
        )
