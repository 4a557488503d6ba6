"""`torch.multinomial(probs, 1)` on CPU with the same draws from the same generator, with less work.

For one sample, torch draws an exponential E for every entry of `probs` (its default CPU generator, a Mersenne
Twister, two 32-bit words per entry: x = the 53 low bits of (w1 << 32 | w2) / 2^53, E = -log1p(-x) in double,
stored as float32) and returns argmax(probs / E). Its exponential kernel is serial, one entry at a time, and runs over
the whole vocabulary of every row at every decode step. Here the words come from NumPy's
MT19937 (the same generator, vectorised) and only the entries with nonzero probability get their exponential
(after top-k, k of the vocabulary): the others divide to 0 and never win the argmax, though their words are drawn, so the
generator ends in the state torch's own call leaves. log1p is the C library's, as torch's, so the draws are the
same bits (tests/test_speed_equivalence.py compares them with torch.multinomial over many seeds).

`multinomial_one` reads and writes the generator through `get_state`/`set_state` and falls back to
torch.multinomial for anything else: another device or dtype, a generator state it cannot read, rows that are not
(N, V). The validity checks are torch's (inf, nan, negative entries, a row summing to 0). Left out: several
samples per row, sampling with replacement, other generators than the default one.
"""

from __future__ import annotations

import math
import struct

import numpy as np
import torch

_STATE_BYTES = 5056  # CPUGeneratorImplState: seed u64, left i32, seeded i32, next u64, 624 x u64 words, ...
_WORDS = 624
_log1p = np.frompyfunc(math.log1p, 1, 1)  # the C library's log1p, as ATen's CPU kernel calls it
_MT = np.random.MT19937(0)  # its state is overwritten at every call (so it is seeded once)


def multinomial_one(probs: torch.Tensor) -> torch.Tensor:
    """(N,) one draw per row of `probs` (N, V), exactly as `torch.multinomial(probs, 1).squeeze(1)`."""
    gen = torch.default_generator
    state = gen.get_state()
    if (
        probs.device.type != "cpu"
        or probs.dtype != torch.float32
        or probs.dim() != 2
        or state.numel() != _STATE_BYTES
    ):
        return torch.multinomial(probs, num_samples=1).squeeze(1)
    sums = probs.sum(1)  # nan or inf anywhere in a row makes its sum non-finite
    if not bool(torch.isfinite(sums).all()) or bool(probs.min() < 0):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if bool((sums == 0).any()):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    raw = state.numpy().tobytes()
    left, nxt = struct.unpack_from("<i", raw, 8)[0], struct.unpack_from("<Q", raw, 16)[0]
    # torch regenerates its 624 words when `left` reaches 1 (as after seeding); NumPy when `pos` reaches 624
    pos = _WORDS if left == 1 else nxt
    if left != 1 and not (0 < nxt < _WORDS and left == _WORDS + 1 - nxt):  # unknown layout: torch's own draw
        return torch.multinomial(probs, num_samples=1).squeeze(1)
    key = np.frombuffer(raw, dtype="<u8", count=_WORDS, offset=24).astype(np.uint32)
    mt = _MT
    mt.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": int(pos)}}
    words = mt.random_raw(2 * probs.numel())
    flat = probs.contiguous().reshape(-1)
    where = torch.nonzero(flat).flatten()
    idx = where.numpy()
    bits = (words[2 * idx] << np.uint64(32)) | words[2 * idx + 1]
    x = (bits & np.uint64((1 << 53) - 1)).astype(np.float64) * (1.0 / (1 << 53))
    e = torch.from_numpy((-_log1p(-x).astype(np.float64)).astype(np.float32))
    ratio = torch.zeros_like(flat)
    ratio[where] = flat[where] / e
    out = ratio.view_as(probs).argmax(dim=-1)
    after = mt.state["state"]
    new = bytearray(raw)
    pos = int(after["pos"])
    struct.pack_into("<i", new, 8, _WORDS + 1 - pos)
    struct.pack_into("<Q", new, 16, pos)
    new[24 : 24 + 8 * _WORDS] = after["key"].astype("<u8").tobytes()
    gen.set_state(torch.frombuffer(new, dtype=torch.uint8).clone())
    return out
