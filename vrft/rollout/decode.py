"""Token-by-token sampling on top of a prefilled prompt cache: `generate`'s sampling loop without its per-token
machinery.

`decode` takes one step function per token: `hf_step`, the model's own forward as `generate` calls it (one new
token per row, the repeated cache preallocated for the whole completion, the 2-D attention mask, mRoPE positions
`cumsum(mask) - 1 + rope_deltas`), or the hand-written step of vrft.rollout.lean_step (built from the B-row prompt
cache). It applies the same logits processors as `generate` to float32 logits, draws with one `multinomial` over all
rows per step (vrft.rollout.draw: the same draws, faster), pads rows that have ended and stops when every row has ended
or the length cap is reached. So with
`hf_step` and the same seed it draws the same tokens as `generate` and leaves the random generator in the same
state; the lean step's logits agree with the model's to float rounding (tests/test_speed_equivalence.py checks
both). `preallocate` swaps each cache layer's growing `torch.cat` for writes into one buffer of the final length
(the keys and values seen by attention are the same).

Left out: greedy-search extras (beam search, assisted decoding), stopping strings, streamers, logits processors
that read past tokens other than their count (repetition penalty: see vrft.rollout.hf).
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessorList
from transformers.cache_utils import DynamicLayer

from vrft.rollout.draw import multinomial_one


class PreallocatedLayer(DynamicLayer):
    """A cache layer holding its keys and values in buffers `extra` tokens longer than the prefilled prompt;
    `update` writes the new tokens in place and returns views of the filled part."""

    def __init__(self, layer: DynamicLayer, extra: int):
        super().__init__()
        keys, values = layer.keys, layer.values
        self.length = keys.shape[-2]
        shape = (*keys.shape[:-2], self.length + extra, keys.shape[-1])
        self.key_buffer, self.value_buffer = keys.new_empty(shape), values.new_empty(shape)
        self.key_buffer[..., : self.length, :] = keys
        self.value_buffer[..., : self.length, :] = values
        self.device, self.is_initialized = keys.device, True
        self._views()

    def _views(self) -> None:
        self.keys = self.key_buffer[..., : self.length, :]
        self.values = self.value_buffer[..., : self.length, :]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        start, self.length = self.length, self.length + key_states.shape[-2]
        if self.length > self.key_buffer.shape[-2]:
            raise RuntimeError(f"preallocated cache full: {self.length} > {self.key_buffer.shape[-2]} tokens")
        self.key_buffer[..., start : self.length, :] = key_states
        self.value_buffer[..., start : self.length, :] = value_states
        self._views()
        return self.keys, self.values


def preallocate(cache, extra: int) -> bool:
    """Give every layer of a prefilled DynamicCache room for `extra` more tokens; False (cache untouched) when the
    cache has layers of another kind (sliding-window, quantized, ...)."""
    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer or not layer.is_initialized for layer in layers):
        return False
    cache.layers = [PreallocatedLayer(layer, extra) for layer in layers]
    return True


def hf_step(model, cache, *, full_mask: torch.Tensor, positions: torch.Tensor, cache_kwarg: str):
    """A decode step through the model's own forward: `step(tokens (N,), t)` runs completion token t-1 on the
    preallocated cache and returns the (N, V) logits that predict token t."""
    P = full_mask.shape[1] - positions.shape[-1]

    def step(tokens: torch.Tensor, t: int) -> torch.Tensor:
        out = model(
            input_ids=tokens[:, None],
            attention_mask=full_mask[:, : P + t],
            position_ids=positions[:, :, t - 1 : t],
            use_cache=True,
            logits_to_keep=1,
            **{cache_kwarg: cache},
        )
        return out.logits[:, -1]

    return step


def decode(
    step,
    first: torch.Tensor,
    *,
    prompt_ids: torch.Tensor,
    max_new_tokens: int,
    processors: LogitsProcessorList,
    eos_ids: list[int],
    pad_id: int,
    do_sample: bool,
) -> torch.Tensor:
    """(N, T') completion ids, T' <= max_new_tokens, starting with `first` (N, 1).

    Args:
        step: `step(tokens (N,), t) -> (N, V)` logits predicting completion token t from token t-1 (`hf_step`, or
            vrft.rollout.lean_step.LeanStep).
        prompt_ids: (N, P) the repeated prompts (processors see prompt + completion so far, as in `generate`).
    """
    N, P, T = first.shape[0], prompt_ids.shape[1], max_new_tokens
    ids = torch.cat([prompt_ids, prompt_ids.new_full((N, T), pad_id)], dim=1)
    ids[:, P] = first[:, 0]
    eos = torch.tensor(eos_ids, device=first.device)
    unfinished = ~(first[:, :1] == eos).any(1)  # isin, in two small ops (isin sorts)
    t = 1
    while t < T and bool(unfinished.any()):
        logits = step(ids[:, P + t - 1], t)
        scores = processors(ids[:, : P + t], logits.to(copy=True, dtype=torch.float32))
        # with sampling, torch.multinomial's draw (vrft.rollout.draw)
        nxt = multinomial_one(torch.softmax(scores, dim=-1)) if do_sample else scores.argmax(dim=-1)
        nxt = torch.where(unfinished, nxt, pad_id)
        ids[:, P + t] = nxt
        unfinished &= ~(nxt[:, None] == eos).any(1)
        t += 1
    return ids[:, P : P + t]
