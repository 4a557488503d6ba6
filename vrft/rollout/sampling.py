"""Sampling settings turned into what generation needs: token ids, a `GenerationConfig` with every
result-changing value set, and the logits processors `generate` applies, in its order, for sampling outside it.

`generation_config` serves `generate` (the plain rollout path and evaluation's greedy decoding);
`first_token_processors` are `generate`'s own processors for the first completion token, sampled after the shared
prefill; `decode_processors` the same for every later token, with min-new-tokens and suppress as one mask built
once (`BannedTokens`) and top-k found by one `kthvalue` (`TopK`): the same -inf entries, the same kept entries
(tests/test_speed_equivalence.py). Left out: repetition penalty other than 1.0, stopping strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessorList,
    MinNewTokensLengthLogitsProcessor,
    SuppressTokensLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from vrft.models.tiny import invalid_token_ids
from vrft.rollout.spec import SamplingSpec

__all__ = [
    "BannedTokens",
    "SamplingSpec",
    "Tokens",
    "TopK",
    "decode_processors",
    "first_token_processors",
    "generation_config",
    "generation_tokens",
    "warpers",
]


@dataclass(frozen=True)
class Tokens:
    """Token ids generation needs: end-of-turn ids, padding id, ids never to sample."""

    eos_ids: list[int]
    pad_id: int
    suppress_ids: list[int]


def generation_tokens(model, tokenizer) -> Tokens:
    ids = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    eos = [i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id and i is not None]
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos:
        eos.insert(0, tokenizer.eos_token_id)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    return Tokens(eos_ids=eos, pad_id=pad, suppress_ids=invalid_token_ids(model, tokenizer))


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


class BannedTokens:
    """`MinNewTokensLengthLogitsProcessor` then `SuppressTokensLogitsProcessor` in one step: their vocabulary masks
    are built once (the end-of-sequence ids are banned while fewer than `min_new_tokens` tokens follow the
    prompt), and the banned entries are set to -inf exactly as those processors set them. Without `vocab` the
    masks are built at the first call, for the scores' width."""

    def __init__(self, prompt_len: int, min_new_tokens: int, eos_ids, suppress_ids, vocab: int | None = None):
        self.prompt_len, self.min_new_tokens = prompt_len, min_new_tokens
        self.eos_ids, self.suppress_ids = list(eos_ids), list(suppress_ids)
        self.before = self.after = None
        if vocab is not None:
            self._masks(vocab, torch.device("cpu"))

    def _masks(self, vocab: int, device: torch.device) -> None:
        self.after = torch.zeros(vocab, dtype=torch.bool, device=device)
        self.after[[i for i in self.suppress_ids if 0 <= i < vocab]] = True
        self.before = self.after.clone()
        self.before[[i for i in self.eos_ids if 0 <= i < vocab]] = True

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.after is None or self.after.shape[0] != scores.shape[-1]:
            self._masks(scores.shape[-1], scores.device)
        early = input_ids.shape[-1] - self.prompt_len < self.min_new_tokens
        mask = (self.before if early else self.after).to(scores.device)
        return scores.masked_fill(mask, -float("inf"))


class TopK:
    """`TopKLogitsWarper`: scores below the k-th largest of their row set to -inf. The k-th largest is found by
    one `kthvalue` selection instead of a sorted `topk` (less work than sorting k entries); it is the same value,
    so the same entries are kept."""

    def __init__(self, top_k: int):
        self.top_k = max(top_k, 1)  # TopKLogitsWarper's min_tokens_to_keep = 1

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        k = min(self.top_k, scores.shape[-1])
        kth = -torch.kthvalue(-scores, k, dim=-1, keepdim=True).values
        return scores.masked_fill(scores < kth, -float("inf"))
