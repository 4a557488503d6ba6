"""Shared prompt prefill: each prompt and its image go through the model once per group, and the prompt's KV cache
is repeated for the G completions of the group.

A group's G rows share one prompt and one image, yet a plain `generate(num_return_sequences=G)` or a plain forward
over prompt + completion encodes the image and prefills the prompt G times. Here the B prompts are prefilled once
(vision tower included), the cache is repeated G times along the batch (`repeat_cache`, which
autograd differentiates, so the same path serves the policy pass with gradients), and only completion tokens run
per row. Qwen-VL's mRoPE keeps a per-row `rope_deltas` (position offset left by the image grid) on the model after
a prefill; it is repeated G times with the cache, and completion positions are `cumsum(mask) - 1 + rope_deltas` on
all three axes, exactly as `generate` computes them. This holds for Qwen2-VL, Qwen2.5-VL and Qwen3-VL alike: their
`get_rope_index` differ (Qwen3-VL: 32-px merged tokens, timestamped video frames; its rotary embedding interleaves
the t/h/w sections, and deepstack adds vision features only at image positions, all inside the cached prompt),
but each leaves text after the last image at `position + rope_deltas` on every axis. The positions passed here
have the three mRoPE rows only (no text row), so the causal mask comes from the attention mask, as in the plain
forward.

The rollout's own prefill is the policy pass's too: the weights do not change between sampling and the first
update, so a rollout sampled in a training step runs its prefill with gradients and hands it over beside the
rollout (`KeptPrefill`), and the policy pass it is given to runs only the completion tokens on it (same log-probs and gradients, bit for bit, in
tests/test_speed_equivalence.py). It is kept only where an eval-mode prefill is the training-mode one (no active
dropout, no activation checkpointing) and, since its activations wait for the policy pass, only when a step is one
micro-batch (vrft.grpo.module), given to the first policy pass only, never to the reference or old-log-prob
passes; a weight
edited in place in between makes the backward fail loudly (autograd's version check), never silently.

Qwen3.5's hybrid cache (Gated DeltaNet layers beside full-attention ones) holds, per linear-attention layer, a
convolution state and a recurrent state instead of keys and values; transformers' `batch_repeat_interleave` does not
repeat those (its linear-attention layers have no such method), so `repeat_cache` repeats every layer's state
itself: keys and values, conv and recurrent states, each per completion; a repeated layer's recurrent state is then
replaced on update rather than overwritten in place, which the backward of the log-prob pass needs. The kept prefill and the lean decode step
hold keys and values only, so a hybrid cache takes the plain paths there (`plain_kv`): no kept prefill, decoding
by `generate` on the repeated cache.

Left out: models without mRoPE `rope_deltas` (callers take the plain path), training under gradient checkpointing
(transformers drops the cache inside checkpointed layers, so callers take the plain path), static/compiled caches.
"""

from __future__ import annotations

import inspect
import types
from dataclasses import dataclass

import torch
from transformers import DynamicCache
from transformers.cache_utils import LinearAttentionCacheLayerMixin

from vrft.rollout.batching import Rollout, select_vision

PROMPT_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids")


def rope_holder(model) -> torch.nn.Module | None:
    """The submodule that keeps Qwen-VL's `rope_deltas` (found through PEFT and DDP wrappers), or None."""
    for module in model.modules():
        if hasattr(module, "rope_deltas") and hasattr(module, "get_rope_index"):
            return module
    return None


def cache_kwarg(model) -> str:
    """The forward keyword of the KV cache: `cache` (transformers >= 5.2x) or `past_key_values` (earlier)."""
    holder = rope_holder(model)
    params = inspect.signature((holder or model).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def output_cache(out):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def can_share(model, *, grad: bool) -> bool:
    """True when the shared-prefill path applies: an mRoPE model, and no gradient checkpointing for a grad pass."""
    if rope_holder(model) is None:
        return False
    return not (grad and model.training and checkpointing(model))


def checkpointing(model) -> bool:
    """True when any layer of the model (vision tower included) runs under activation checkpointing."""
    return any(getattr(m, "gradient_checkpointing", False) is True for m in model.modules())


def plain_kv(cache) -> bool:
    """True when every layer of `cache` holds keys and values only (no linear-attention conv/recurrent state)."""
    layers = getattr(cache, "layers", None) or []
    return not any(isinstance(layer, LinearAttentionCacheLayerMixin) for layer in layers)


def repeat_cache(cache, repeats: int) -> None:
    """Repeat every row of `cache` `repeats` times along the batch, in place: keys and values, and the conv and
    recurrent states of linear-attention layers (each completion of a group gets its own copy; autograd
    differentiates through the repeat)."""
    for layer in cache.layers:
        if isinstance(layer, LinearAttentionCacheLayerMixin):
            for states in (layer.conv_states, layer.recurrent_states):
                for i, state in states.items():
                    if state is not None:
                        states[i] = state.repeat_interleave(repeats, dim=0)
            layer.update_recurrent_state = types.MethodType(_replace_recurrent_state, layer)
        if getattr(layer, "keys", None) is not None and getattr(layer, "is_initialized", False):
            layer.keys = layer.keys.repeat_interleave(repeats, dim=0)
            layer.values = layer.values.repeat_interleave(repeats, dim=0)


def _replace_recurrent_state(
    layer, recurrent_states: torch.Tensor, state_idx: int = 0, **kwargs
) -> torch.Tensor:
    """A repeated layer's recurrent-state update: the new state replaces the old tensor instead of being copied
    into it (transformers copies in place, for CUDA graphs), so a gradient pass keeps the state it read intact for
    the backward. The values are the same either way."""
    layer.recurrent_states[state_idx] = recurrent_states
    return recurrent_states


def group_rows(num_sequences: int, group_size: int) -> list[int]:
    """The first row of each group: 0, G, 2G, ..."""
    return list(range(0, num_sequences, group_size))


def prefill(model, inputs: dict[str, torch.Tensor], group_size: int, *, repeat: bool = True):
    """Run the B prompts once and repeat the result per group (the cache only with `repeat`: the lean decode
    step reads the B-row cache as it is).

    Args:
        inputs: B prompts (`input_ids`, `attention_mask`, `mm_token_type_ids`, vision tensors), left-padded.

    Returns:
        (last_logits (B, V) in the model's dtype, cache with B*G rows (B without `repeat`), rope_deltas (B*G, 1)).
    """
    holder = rope_holder(model)
    out = model(**inputs, use_cache=True, logits_to_keep=1)
    cache = output_cache(out)
    if cache is None or holder.rope_deltas is None:
        raise RuntimeError("shared prefill: the model returned no cache or no rope_deltas")
    if repeat:
        repeat_cache(cache, group_size)
    deltas = holder.rope_deltas.repeat_interleave(group_size, dim=0)
    return out.logits[:, -1], cache, deltas


def completion_positions(full_mask: torch.Tensor, prompt_len: int, deltas: torch.Tensor) -> torch.Tensor:
    """(3, N, T') mRoPE positions of the tokens after the prompt: cumsum(mask) - 1 + rope_deltas on every axis."""
    pos = full_mask.long().cumsum(-1) - 1
    pos = pos.masked_fill(full_mask == 0, 1)[:, prompt_len:] + deltas.to(pos.device)
    return pos.unsqueeze(0).expand(3, -1, -1)


@dataclass(frozen=True)
class KeptPrefill:
    """A rollout's prompt prefill kept with its autograd graph for the policy pass: the weights have not changed
    between the rollout and the first update, so the prompt and image need not run again. For one gradient pass
    (its graph is freed by the backward) of the model that made it."""

    model: torch.nn.Module
    logits: torch.Tensor  # (B, V) last prompt position
    kv: list[tuple[torch.Tensor, torch.Tensor]]  # per layer (keys, values), B rows
    deltas: torch.Tensor  # (B*G, 1) mRoPE offsets
    config: object

    def cache(self, group_size: int) -> DynamicCache:
        cache = DynamicCache(ddp_cache_data=self.kv, config=self.config)
        repeat_cache(cache, group_size)
        return cache


def keeps_graph(model) -> bool:
    """True when a prefill made in eval mode under no other change can stand in for the policy pass's own: the
    model trains (some parameter requires grad), has no active dropout and no activation checkpointing."""
    if not any(p.requires_grad for p in model.parameters()) or checkpointing(model):
        return False
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout) and m.p > 0:
            return False
        if float(getattr(m, "attention_dropout", 0.0) or 0.0) > 0:
            return False
    return True


def shared_completion_logits(model, r: Rollout, kept: KeptPrefill | None = None) -> list[torch.Tensor]:
    """The logits that predict each completion token of rollout `r`, its prompts prefilled once per group, in two
    parts along T: [(N, 1, V), (N, T-1, V)] (one part when T = 1). Callers score each part on its own, so the
    (N, T, V) tensor is never concatenated (a copy, and another in the backward).

    Row n's logit t predicts completion token t: t = 0 comes from the prompt's last position, t >= 1 from a forward
    over completion tokens 0..T-2 on top of the repeated prompt cache. Given the rollout's `kept` prefill (a gradient
    pass of the model that made it), the prompts are not run again.
    """
    G, N, T = r.group_size, r.num_sequences, r.completion_ids.shape[1]
    holder = rope_holder(model)
    if kept is not None and (kept.model is not model or not torch.is_grad_enabled()):
        raise ValueError("a kept prefill serves a gradient pass of the model that made it, and no other pass")
    try:
        if kept is not None:
            first, cache, deltas = kept.logits, kept.cache(G), kept.deltas
        else:
            rows = group_rows(N, G)
            prompts = {
                "input_ids": r.prompt_ids[rows],
                "attention_mask": r.prompt_mask[rows],
                "mm_token_type_ids": r.prompt_mm[rows],
                **select_vision(r.vision, rows),
            }
            first, cache, deltas = prefill(model, prompts, G)
        first = first.repeat_interleave(G, dim=0).unsqueeze(1)
        if T == 1:
            return [first]
        P = r.prompt_ids.shape[1]
        full_mask = torch.cat([r.prompt_mask, r.completion_mask.to(r.prompt_mask.dtype)], dim=1)[
            :, : P + T - 1
        ]
        out = model(
            input_ids=r.completion_ids[:, :-1],
            attention_mask=full_mask,
            position_ids=completion_positions(full_mask, P, deltas),
            use_cache=True,
            **{cache_kwarg(model): cache},
        )
        return [first, out.logits]
    finally:
        holder.rope_deltas = None


def same_prompt_per_group(r: Rollout) -> bool:
    """True when every row of each group holds its group's prompt (the layout rollouts produce)."""
    rows = group_rows(r.num_sequences, r.group_size)
    if r.num_sequences % r.group_size:
        return False
    expanded = r.prompt_ids[rows].repeat_interleave(r.group_size, dim=0)
    return torch.equal(expanded, r.prompt_ids)
