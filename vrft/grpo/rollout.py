"""Rollout engines: sample G completions per prompt. One registry, `ROLLOUTS`; `hf` (transformers generate) is the
default and runs anywhere; `vllm` (vrft.grpo.vllm_rollout) is for GPU users and fails at start with a clear message
where vLLM is absent.

The `hf` engine prefills each prompt once and shares its cache across the group (vrft.grpo.prefill): the first
token of every completion is sampled here from the prompt's logits, repeated G times, through the same logits
processors in the same order as `generate`, and the rest is decoded by `generate`'s sampling loop without its
per-token machinery (vrft.grpo.decode): each step by the hand-written Qwen-VL step built from the B-row prompt cache
(vrft.grpo.lean_step) where it applies, else by the model's forward on the repeated cache preallocated for the
whole completion. With the same seed it draws the same tokens as a plain `generate(num_return_sequences=G)`
(`shared_prefill=False`), which encodes the image and prefills the prompt G times (the lean step to float
rounding). Sampled in a training step, the prefill keeps its graph for the policy pass (vrft.grpo.prefill.Prefix).

Every sampling setting is passed explicitly (temperature, top_p, top_k, repetition_penalty, max_new_tokens):
Qwen2-VL ships a near-greedy generation_config (top_k=1, top_p=0.001) that would otherwise fill unset values and
make every completion of a group identical. Left out: speculative decoding, continuous batching, repetition
penalty other than 1.0 (the shared path would need the prompt's token counts per row).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessorList,
    MinNewTokensLengthLogitsProcessor,
    StoppingCriteria,
    StoppingCriteriaList,
    SuppressTokensLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from vrft.grpo.batching import Rollout, repeat_vision
from vrft.grpo.decode import BannedTokens, TopK, decode, hf_step, preallocate
from vrft.grpo.lean_step import LeanStep
from vrft.grpo.prefill import (
    PROMPT_KEYS,
    Prefix,
    cache_kwarg,
    can_share,
    completion_positions,
    keeps_graph,
    prefill,
    rope_holder,
)
from vrft.registry import Registry

ROLLOUTS = Registry("rollout engine")


@dataclass(frozen=True)
class SamplingSpec:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 50
    max_new_tokens: int = 256
    do_sample: bool = True
    min_new_tokens: int = 0  # > 0 forbids end-of-sequence before this many tokens (equal-work benchmarks)


def generation_config(
    s: SamplingSpec, *, num_return_sequences: int, eos_ids: list[int], pad_id: int, suppress_ids: list[int]
) -> GenerationConfig:
    """A GenerationConfig with every result-changing value set, so nothing is inherited from the checkpoint."""
    sampling = {"temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k} if s.do_sample else {}
    return GenerationConfig(
        do_sample=s.do_sample,
        max_new_tokens=s.max_new_tokens,
        min_new_tokens=s.min_new_tokens or None,
        num_return_sequences=num_return_sequences,
        repetition_penalty=1.0,
        eos_token_id=eos_ids,
        pad_token_id=pad_id,
        suppress_tokens=suppress_ids or None,
        use_cache=True,
        **sampling,
    )


def first_token_processors(
    s: SamplingSpec, *, prompt_len: int, eos_ids: list[int], suppress_ids: list[int]
) -> LogitsProcessorList:
    """The processors `generate` builds for `generation_config(s, ...)`, in its order (min-new-tokens, suppress,
    temperature, top-k, top-p), for sampling the first completion token outside `generate`."""
    procs = LogitsProcessorList()
    if s.min_new_tokens > 0:
        procs.append(MinNewTokensLengthLogitsProcessor(prompt_len, s.min_new_tokens, eos_ids))
    if suppress_ids:
        procs.append(SuppressTokensLogitsProcessor(suppress_ids))
    return LogitsProcessorList(procs + warpers(s))


def decode_processors(
    s: SamplingSpec, *, prompt_len: int, eos_ids: list[int], suppress_ids: list[int]
) -> LogitsProcessorList:
    """`first_token_processors` for every later token: min-new-tokens and suppress as one mask built once
    (`BannedTokens`, the same -inf entries), then the same warpers (top-k as `TopK`, the same kept entries)."""
    banned = BannedTokens(
        prompt_len, s.min_new_tokens, eos_ids, suppress_ids
    )  # masks sized at the first call
    later = [TopK(w.top_k) if type(w) is TopKLogitsWarper else w for w in warpers(s)]
    return LogitsProcessorList([banned, *later])


def warpers(s: SamplingSpec) -> list:
    """temperature, top-k, top-p, in `generate`'s order; none for greedy decoding."""
    if not s.do_sample:
        return []
    out = []
    if s.temperature != 1.0:
        out.append(TemperatureLogitsWarper(s.temperature))
    if s.top_k:
        out.append(TopKLogitsWarper(top_k=s.top_k))
    if s.top_p < 1.0:
        out.append(TopPLogitsWarper(top_p=s.top_p))
    return out


class EndedAt(StoppingCriteria):
    """Rows whose token at `position` is an end-of-sequence token are finished (the first token was sampled before
    `generate` started, so `generate` would not know those rows had ended)."""

    def __init__(self, position: int, eos_ids: list[int]):
        self.position = position
        self.eos = torch.tensor(eos_ids)

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        return torch.isin(input_ids[:, self.position], self.eos.to(input_ids.device))


def mask_after_eos(completion_ids: torch.Tensor, eos_ids: list[int]) -> torch.Tensor:
    """(N, T) mask: 1 up to and including the first EOS (any of `eos_ids`), 0 after; all ones without EOS."""
    is_eos = torch.isin(completion_ids, torch.tensor(eos_ids, device=completion_ids.device))
    seen_before = (is_eos.cumsum(dim=1) - is_eos.long()) > 0
    return (~seen_before).long()


@ROLLOUTS.register("hf")
class HFRollout:
    """transformers `generate`; with `shared_prefill` (default) each prompt and image is prefilled once per group.
    Every engine is built as `Engine(sampling, eos_ids=, pad_id=, suppress_ids=, processor=)` and called as
    `engine(policy, inputs, G, images=...)`; this one needs no processor and no raw images."""

    def __init__(
        self,
        sampling: SamplingSpec,
        *,
        eos_ids: list[int],
        pad_id: int,
        suppress_ids: list[int],
        processor=None,
        shared_prefill: bool = True,
        lean_decode: bool = True,
        lean_step: bool = True,
        keep_prefill: bool = True,
        compile_decode: bool = False,
    ):
        self.sampling = sampling
        self.eos_ids = eos_ids
        self.pad_id = pad_id
        self.suppress_ids = suppress_ids
        self.shared_prefill = shared_prefill
        self.lean_decode = (
            lean_decode  # False: the shared path continues with `generate` (for a before/after)
        )
        self.lean_step = lean_step  # False: decode steps run the model's forward (vrft.grpo.lean_step)
        self.keep_prefill = (
            keep_prefill  # False: the policy pass runs the prompts again (vrft.grpo.prefill.Prefix)
        )
        self.compile_decode = compile_decode  # the lean step through torch.compile (vrft.grpo.lean_step)

    def config(self, s: SamplingSpec, num_return_sequences: int) -> GenerationConfig:
        return generation_config(
            s,
            num_return_sequences=num_return_sequences,
            eos_ids=self.eos_ids,
            pad_id=self.pad_id,
            suppress_ids=self.suppress_ids,
        )

    def __call__(self, model, inputs: dict[str, torch.Tensor], group_size: int, images=None) -> Rollout:
        """G completions per prompt of `inputs` (B left-padded prompts); `images` is unused (prompts hold them).
        Called with gradients enabled (from a training step), the shared prefill keeps its graph for the policy
        pass where `keeps_graph` allows."""
        keep = self.keep_prefill and torch.is_grad_enabled() and keeps_graph(model)
        was_training = model.training
        model.eval()
        prefix = None
        try:
            with torch.no_grad():
                if self.shared_prefill and can_share(model, grad=False):
                    completion_ids, prefix = self.sample_shared(model, inputs, group_size, keep=keep)
                else:
                    out = model.generate(**inputs, generation_config=self.config(self.sampling, group_size))
                    completion_ids = out[:, inputs["input_ids"].shape[1] :]
        finally:
            model.train(was_training)
        r = build_rollout(inputs, completion_ids, group_size, self.eos_ids, self.pad_id)
        r.prefix = prefix
        return r

    def sample_shared(
        self, model, inputs: dict[str, torch.Tensor], group_size: int, *, keep: bool = False
    ) -> tuple[torch.Tensor, Prefix | None]:
        """(N, T) completion ids: prompts prefilled once, first token sampled here, the rest decoded on the
        prompt cache (by the lean step, built from the B-row cache, where it applies, else on the repeated one).
        Returns (ids, the prefill kept with its graph: with `keep` the prefill runs with gradients, else None)."""
        holder = rope_holder(model)
        try:
            with torch.set_grad_enabled(keep):
                logits, cache, deltas = prefill(model, inputs, group_size, repeat=False)
            kept = None
            if keep:
                kv = [(layer.keys, layer.values) for layer in cache.layers]
                kept = Prefix(model, logits, kv, deltas, model.config)
                logits = logits.detach()
            first = self.first_tokens(inputs, logits, group_size)
            ended = torch.isin(first, torch.tensor(self.eos_ids, device=first.device))
            if self.sampling.max_new_tokens == 1 or bool(ended.all()):  # `generate` would sample once more
                return first, kept
            holder.rope_deltas = deltas  # `generate` reads the per-row mRoPE offsets from the model
            if self.lean_decode and self.lean_step:
                ids = self.lean_continue(model, inputs, first, cache, group_size)
                if ids is not None:
                    return ids, kept
            cache.batch_repeat_interleave(group_size)
            return self.continue_from(model, inputs, first, cache, group_size), kept
        finally:
            holder.rope_deltas = None

    def lean_continue(
        self, model, inputs, first: torch.Tensor, cache, group_size: int
    ) -> torch.Tensor | None:
        """The remaining tokens by vrft.grpo.lean_step on the B-row prompt cache; None where it does not apply."""
        s, P = self.sampling, inputs["input_ids"].shape[1]
        full_mask = self.full_mask(inputs, first, group_size)
        positions = completion_positions(full_mask, P, rope_holder(model).rope_deltas)[0]
        step = LeanStep.build(
            model,
            cache,
            inputs["attention_mask"],
            group_size,
            positions,
            s.max_new_tokens - 1,
            compiled=self.compile_decode,
        )
        if step is None:
            return None
        return self.decode_with(step, inputs, first, group_size)

    def full_mask(self, inputs, first: torch.Tensor, group_size: int) -> torch.Tensor:
        """(N, P + max_new_tokens): each row's prompt mask followed by ones."""
        mask = inputs["attention_mask"].repeat_interleave(group_size, dim=0)
        return torch.cat(
            [mask, first.new_ones(first.shape[0], self.sampling.max_new_tokens).to(mask.dtype)], 1
        )

    def decode_with(self, step, inputs, first: torch.Tensor, group_size: int) -> torch.Tensor:
        s, P = self.sampling, inputs["input_ids"].shape[1]
        procs = decode_processors(s, prompt_len=P, eos_ids=self.eos_ids, suppress_ids=self.suppress_ids)
        return decode(
            step,
            first,
            prompt_ids=inputs["input_ids"].repeat_interleave(group_size, dim=0),
            max_new_tokens=s.max_new_tokens,
            processors=procs,
            eos_ids=self.eos_ids,
            pad_id=self.pad_id,
            do_sample=s.do_sample,
        )

    def first_tokens(
        self, inputs: dict[str, torch.Tensor], logits: torch.Tensor, group_size: int
    ) -> torch.Tensor:
        """(N, 1) first completion tokens from the B prompts' last logits, repeated G times, drawn as `generate`
        draws them (same processors, one `multinomial` over all N rows)."""
        s, P = self.sampling, inputs["input_ids"].shape[1]
        procs = first_token_processors(s, prompt_len=P, eos_ids=self.eos_ids, suppress_ids=self.suppress_ids)
        ids = inputs["input_ids"].repeat_interleave(group_size, dim=0)
        scores = procs(ids, logits.float().repeat_interleave(group_size, dim=0))
        if s.do_sample:
            return torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1)
        return scores.argmax(dim=-1, keepdim=True)

    def continue_from(self, model, inputs, first: torch.Tensor, cache, group_size: int) -> torch.Tensor:
        """The remaining tokens on top of the repeated prompt cache; returns (N, T') completion ids. `decode`
        (into a cache preallocated for the whole completion) draws what `generate` would; `generate` itself is
        kept for caches that cannot be preallocated."""
        s, P = self.sampling, inputs["input_ids"].shape[1]
        if self.lean_decode and preallocate(cache, s.max_new_tokens - 1):
            full_mask = self.full_mask(inputs, first, group_size)
            positions = completion_positions(full_mask, P, rope_holder(model).rope_deltas)
            step = hf_step(
                model, cache, full_mask=full_mask, positions=positions, cache_kwarg=cache_kwarg(model)
            )
            return self.decode_with(step, inputs, first, group_size)
        rep = {k: inputs[k].repeat_interleave(group_size, dim=0) for k in PROMPT_KEYS}
        rest = replace(s, max_new_tokens=s.max_new_tokens - 1, min_new_tokens=max(0, s.min_new_tokens - 1))
        out = model.generate(
            input_ids=torch.cat([rep["input_ids"], first], dim=1),
            attention_mask=torch.cat([rep["attention_mask"], torch.ones_like(first)], dim=1),
            mm_token_type_ids=torch.cat([rep["mm_token_type_ids"], torch.zeros_like(first)], dim=1),
            generation_config=self.config(rest, 1),
            stopping_criteria=StoppingCriteriaList([EndedAt(P, self.eos_ids)]),
            **{cache_kwarg(model): cache},
        )
        return out[:, P:]


def build_rollout(
    inputs: dict[str, torch.Tensor],
    completion_ids: torch.Tensor,
    group_size: int,
    eos_ids: list[int],
    pad_id: int,
) -> Rollout:
    """A Rollout from B prompts and their (B*G, T) sampled ids: padding after the first EOS, trailing all-padding
    columns dropped (a row that ended on its first token can leave some), prompts and images repeated G times."""
    mask = mask_after_eos(completion_ids, eos_ids)
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


@ROLLOUTS.register("vllm")
def vllm_rollout(sampling: SamplingSpec, **kwargs):
    """The colocated vLLM engine (vrft.grpo.vllm_rollout); raises ConfigError at once where vLLM is absent."""
    from vrft.grpo.vllm_rollout import VLLMRollout

    return VLLMRollout(sampling, **kwargs)
