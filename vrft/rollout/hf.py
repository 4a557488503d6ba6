"""The `hf` rollout engine: transformers models sample G completions per prompt; runs anywhere.

Each prompt is prefilled once and its cache shared across the group (vrft.rollout.prefill): the first token of
every completion is sampled here from the prompt's logits, repeated G times, through the same logits processors in
the same order as `generate` (vrft.rollout.sampling), and the rest is decoded by `generate`'s sampling loop without
its per-token machinery (vrft.rollout.decode): each step by the hand-written Qwen-VL step built from the B-row
prompt cache (vrft.rollout.lean_step) where it applies, else by the model's forward on the repeated cache
preallocated for the whole completion, else by `generate` continuing from the first token (`EndedAt`). With the
same seed it draws the same tokens as a plain `generate(num_return_sequences=G)` (`shared_prefill: false`), which
encodes the image and prefills the prompt G times (the lean step to float rounding). Asked to keep the prefill
(`sample(..., keep_prefill=True)`, from a training step with gradients on), the prefill runs with gradients and
comes back beside the rollout as a `KeptPrefill` for the policy pass. Each path has its switch in `RolloutSpec`.

Left out: speculative decoding, continuous batching, repetition penalty other than 1.0 (the shared path would need
the prompt's token counts per row).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

from vrft.rollout.batching import Rollout, build_rollout
from vrft.rollout.decode import decode, hf_step, preallocate
from vrft.rollout.lean_step import LeanStep
from vrft.rollout.prefill import (
    PROMPT_KEYS,
    KeptPrefill,
    cache_kwarg,
    can_share,
    completion_positions,
    keeps_graph,
    plain_kv,
    prefill,
    repeat_cache,
    rope_holder,
)
from vrft.rollout.sampling import (
    SamplingSpec,
    Tokens,
    decode_processors,
    first_token_processors,
    generation_config,
)
from vrft.rollout.spec import RolloutSpec


class EndedAt(StoppingCriteria):
    """Rows whose token at `position` is an end-of-sequence token are finished (the first token was sampled before
    `generate` started, so `generate` would not know those rows had ended)."""

    def __init__(self, position: int, eos_ids: list[int]):
        self.position = position
        self.eos = torch.tensor(eos_ids)

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        return torch.isin(input_ids[:, self.position], self.eos.to(input_ids.device))


class HFRollout:
    """The transformers engine with its fast paths switched by `spec` (see the module doc)."""

    def __init__(self, spec: RolloutSpec, tokens: Tokens, processor=None):
        self.spec = spec
        self.sampling = spec.sampling
        self.eos_ids = tokens.eos_ids
        self.pad_id = tokens.pad_id
        self.suppress_ids = tokens.suppress_ids

    def config(self, s: SamplingSpec, num_return_sequences: int) -> GenerationConfig:
        return generation_config(
            s,
            num_return_sequences=num_return_sequences,
            eos_ids=self.eos_ids,
            pad_id=self.pad_id,
            suppress_ids=self.suppress_ids,
        )

    def __call__(self, model, inputs: dict[str, torch.Tensor], group_size: int, images=None) -> Rollout:
        """G completions per prompt of `inputs` (B left-padded prompts); `images` is unused (prompts hold them)."""
        return self.sample(model, inputs, group_size)[0]

    def sample(
        self,
        model,
        inputs: dict[str, torch.Tensor],
        group_size: int,
        *,
        images=None,
        keep_prefill: bool = False,
    ) -> tuple[Rollout, KeptPrefill | None]:
        """The rollout, and with `keep_prefill` (asked with gradients on) its prompt prefill kept with its graph
        for the policy pass, where the switch and `keeps_graph` allow; else None."""
        keep = keep_prefill and self.spec.keep_prefill and torch.is_grad_enabled() and keeps_graph(model)
        was_training = model.training
        model.eval()
        kept = None
        try:
            with torch.no_grad():
                if self.spec.shared_prefill and can_share(model, grad=False):
                    completion_ids, kept = self.sample_shared(model, inputs, group_size, keep=keep)
                else:
                    out = model.generate(**inputs, generation_config=self.config(self.sampling, group_size))
                    completion_ids = out[:, inputs["input_ids"].shape[1] :]
        finally:
            model.train(was_training)
        return build_rollout(inputs, completion_ids, group_size, self.eos_ids, self.pad_id), kept

    def sample_shared(
        self, model, inputs: dict[str, torch.Tensor], group_size: int, *, keep: bool = False
    ) -> tuple[torch.Tensor, KeptPrefill | None]:
        """(N, T) completion ids: prompts prefilled once, first token sampled here, the rest decoded on the
        prompt cache (by the lean step, built from the B-row cache, where it applies, else on the repeated one).
        Returns (ids, the prefill kept with its graph: with `keep` the prefill runs with gradients, else None)."""
        holder = rope_holder(model)
        try:
            with torch.set_grad_enabled(keep):
                logits, cache, deltas = prefill(model, inputs, group_size, repeat=False)
            kept = None
            # a hybrid (linear-attention) cache is not kept: the policy pass prefills again
            if keep and plain_kv(cache):
                kv = [(layer.keys, layer.values) for layer in cache.layers]
                kept = KeptPrefill(model, logits, kv, deltas, model.config)
            logits = logits.detach()
            first = self.first_tokens(inputs, logits, group_size)
            ended = torch.isin(first, torch.tensor(self.eos_ids, device=first.device))
            if self.sampling.max_new_tokens == 1 or bool(ended.all()):  # `generate` would sample once more
                return first, kept
            holder.rope_deltas = deltas  # `generate` reads the per-row mRoPE offsets from the model
            if self.spec.lean_decode and self.spec.lean_step:
                ids = self.lean_continue(model, inputs, first, cache, group_size)
                if ids is not None:
                    return ids, kept
            repeat_cache(cache, group_size)
            return self.continue_from(model, inputs, first, cache, group_size), kept
        finally:
            holder.rope_deltas = None

    def lean_continue(
        self, model, inputs, first: torch.Tensor, cache, group_size: int
    ) -> torch.Tensor | None:
        """The remaining tokens by vrft.rollout.lean_step on the B-row prompt cache; None where it does not apply."""
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
            compiled=self.spec.compile_decode,
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
        if self.spec.lean_decode and preallocate(cache, s.max_new_tokens - 1):
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

    def after_update(self, policy) -> None:
        """Nothing to do: this engine samples from the policy's own weights."""
