"""A hand-written decode step for the Qwen-VL text decoders (Qwen2-VL, Qwen2.5-VL, Qwen3-VL): one new token per
row, on top of the group's prompt cache.

Why by hand: at rollout sizes (B x G = 16 rows) a decode step is a few dozen small matmuls and a few hundred tiny
tensor ops, and transformers' forward spends much of its time in the ops around the matmuls (mask and rotary
construction per call, per-head reshapes, the growing cache); no maintained library offers a CPU decode step for
these models over a shared prompt prefix. `decode_step` does the same arithmetic in fewer ops: q/k/v and gate/up
each in one matmul over weights concatenated once per rollout; the residual stream kept transposed, so every
projection is `W @ x` (the shape MKL runs fastest for a few rows; fp32 decode is bound by reading the weights) with
the residual add folded into it (addmm); rotary factors for every step computed once per rollout, with the
softmax scale folded into q's; each row's keys and values in one buffer per layer (its prompt's, copied once per
rollout, then room for the completion) attended in one baddbmm under an additive mask. Text tokens after the
image carry the same position on all three mRoPE axes, so the rotary embedding is the plain one at
`position + rope_deltas`, as transformers computes it.

With `compiled` (`rollout.compile_decode`, on for CPU runs) the step goes through torch.compile (inductor, C++
wrapper): its elementwise ops fuse and no Python runs between kernels. It then attends over the whole buffer (the
unwritten slots masked) so one graph serves every step; the first rollout of a process compiles it (the
benchmark's warm-up step shows the cost; the compiled code is cached on disk), and a compile that fails falls back
to the eager step with one warning.

It is the same function of the weights as the model's forward and agrees with it up to float rounding (the
attention sums and matmul blocking differ); tests/test_speed_equivalence.py checks the logits against the model's,
the compiled step against the eager one, and that a seeded rollout draws the same tokens. `LeanStep.build` returns
None (callers keep transformers' forward) for anything else: other architectures, projections that are not plain
`nn.Linear` (LoRA adapters, quantized layers), activations other than SiLU, scaled rotary types, sliding-window
attention, autocast. Left out: several new tokens per call, attention dropout, any training use (it runs under
no_grad only).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

TEXT_MODELS = ("Qwen2VLTextModel", "Qwen2_5_VLTextModel", "Qwen3VLTextModel")


@dataclass
class _Layer:
    qkv: torch.Tensor  # (H*D + 2*KVH*D, hidden)
    qkv_bias: torch.Tensor | None
    o: torch.Tensor
    gate_up: torch.Tensor  # (2*I, hidden)
    down: torch.Tensor
    ln1: torch.Tensor
    ln2: torch.Tensor
    q_norm: torch.Tensor | None  # Qwen3-VL: RMSNorm over each head of q and k
    k_norm: torch.Tensor | None


def text_model(model) -> torch.nn.Module | None:
    for module in model.modules():
        if type(module).__name__ in TEXT_MODELS:
            return module
    return None


def output_head(model) -> torch.nn.Module | None:
    for name, module in model.named_modules():
        if name.split(".")[-1] == "lm_head":
            return module
    return None


def _plain(*modules) -> bool:
    return all(type(m) is torch.nn.Linear for m in modules)


def _supported(lm, head) -> bool:
    cfg = lm.config
    rope = getattr(cfg, "rope_parameters", None) or {}
    if head is None or not _plain(head) or head.bias is not None:
        return False
    if getattr(cfg, "hidden_act", None) != "silu" or rope.get("rope_type", "default") != "default":
        return False
    if getattr(cfg, "use_sliding_window", False):
        return False
    for layer in lm.layers:
        a, f = layer.self_attn, layer.mlp
        if not _plain(a.q_proj, a.k_proj, a.v_proj, a.o_proj, f.gate_proj, f.up_proj, f.down_proj):
            return False
        if a.o_proj.bias is not None or any(
            p.bias is not None for p in (f.gate_proj, f.up_proj, f.down_proj)
        ):
            return False
    return True


def _cat(*tensors: torch.Tensor | None) -> torch.Tensor | None:
    return None if any(t is None for t in tensors) else torch.cat(tensors)


class LeanStep:
    """Decode steps of one rollout. Built after the prefill from the B-row prompt cache; `__call__(tokens, t)`
    runs completion token t-1 (positions `positions[:, t-1]`) and returns the logits that predict token t."""

    def __init__(
        self,
        lm,
        head,
        prompt_kv,
        prompt_mask: torch.Tensor,
        group: int,
        positions: torch.Tensor,
        extra: int,
        compiled: bool = False,
    ):
        cfg = lm.config
        self.H, self.KVH = cfg.num_attention_heads, cfg.num_key_value_heads
        self.D = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.H
        self.eps = cfg.rms_norm_eps
        self.embed, self.head_w, self.norm_w = lm.embed_tokens.weight, head.weight, lm.norm.weight[:, None]
        self.layers = [self._layer(layer) for layer in lm.layers]
        self.weights = [tuple(getattr(w, f.name) for f in dataclasses.fields(w)) for w in self.layers]
        self.dims = (self.H, self.KVH, self.D, self.eps)
        self.compiled = compiled
        B, P = prompt_mask.shape
        N, KVH, D = B * group, self.KVH, self.D
        self.P = P
        k0 = prompt_kv[0][0]
        dtype = k0.dtype
        # per row and kv head, the prompt's keys and values (repeated per group) then room for the completion's
        # (zeros: a slot not yet written is masked, and 0 * -inf-masked weight must not be NaN)
        self.keys, self.values = [], []
        for pk, pv in prompt_kv:
            for buffers, prompt in ((self.keys, pk), (self.values, pv)):
                buf = k0.new_zeros(N, KVH, P + extra, D)
                buf[:, :, :P] = prompt.repeat_interleave(group, dim=0)
                buffers.append(buf)
        # additive attention mask, (N*KVH, 1, P + extra): -inf at the prompt's padding and at every completion
        # slot until its token is written (each step attends over the whole buffer: one shape for every step)
        pad = (prompt_mask == 0).repeat_interleave(group, dim=0)
        bias = torch.full((N, KVH, 1, P + extra), float("-inf"), dtype=dtype, device=prompt_mask.device)
        bias[..., :P] = bias[..., :P].masked_fill(~pad[:, None, None, :], 0.0)
        self.bias = bias.view(N * KVH, 1, P + extra)
        # step t writes its token's keys and values at slots[t - 1]
        self.slots = torch.arange(P, P + extra, device=prompt_mask.device)[:, None]
        rot = lm.rotary_emb
        freqs = positions.float()[..., None] * rot.inv_freq.to(positions.device)  # (N, T, D/2)
        emb = torch.cat((freqs, freqs), dim=-1).transpose(0, 1)[:, :, None, :]  # (T, N, 1, D)
        # rotate_half(x) = roll(x, D/2) * sign; q's softmax scale folded in: (T, N, H + KVH, D) per factor
        heads = torch.tensor([D**-0.5] * self.H + [1.0] * KVH, device=emb.device)[:, None]
        sign = torch.cat([-torch.ones(D // 2), torch.ones(D // 2)]).to(emb.device)
        self.cos = (emb.cos() * rot.attention_scaling * heads).to(dtype)
        self.sin = (emb.sin() * rot.attention_scaling * heads * sign).to(dtype)

    @classmethod
    def build(
        cls,
        model,
        prompt_cache,
        prompt_mask: torch.Tensor,
        group: int,
        positions: torch.Tensor,
        extra: int,
        compiled: bool = False,
    ):
        """A LeanStep for `model`, or None where the model or the run is not one it covers (see module doc)."""
        lm, head = text_model(model), output_head(model)
        if lm is None or not _supported(lm, head):
            return None
        if torch.is_autocast_enabled(prompt_mask.device.type) or torch.is_grad_enabled():
            return None
        layers = getattr(prompt_cache, "layers", None)
        if (
            not layers
            or len(layers) != len(lm.layers)
            or any(getattr(c, "keys", None) is None for c in layers)
        ):
            return None
        kv = [(c.keys, c.values) for c in layers]
        return cls(lm, head, kv, prompt_mask, group, positions, extra, compiled)

    def _layer(self, layer) -> _Layer:
        a, f = layer.self_attn, layer.mlp
        qn, kn = getattr(a, "q_norm", None), getattr(a, "k_norm", None)
        bias = _cat(a.q_proj.bias, a.k_proj.bias, a.v_proj.bias)
        return _Layer(
            qkv=torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]),
            qkv_bias=None if bias is None else bias[:, None],
            o=a.o_proj.weight,
            gate_up=torch.cat([f.gate_proj.weight, f.up_proj.weight]),
            down=f.down_proj.weight,
            ln1=layer.input_layernorm.weight[:, None],
            ln2=layer.post_attention_layernorm.weight[:, None],
            q_norm=None if qn is None else qn.weight,
            k_norm=None if kn is None else kn.weight,
        )

    def __call__(self, tokens: torch.Tensor, t: int) -> torch.Tensor:
        """(N, V) logits predicting completion token t from completion token t-1 (`tokens`, (N,))."""
        self.bias[:, :, self.P + t - 1] = 0.0  # completion token t-1's slot joins the keys attended
        args = (
            tokens,
            self.cos[t - 1],
            self.sin[t - 1],
            self.slots[t - 1],
            self.bias,
            self.keys,
            self.values,
        )
        weights = (self.weights, self.embed, self.norm_w, self.head_w, self.dims)
        return run_step(self.compiled, *args, *weights, span=self.P + t)


def _norm(xt: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm of each column of the transposed stream xt (hidden, N), in float32 as transformers computes it; `w` is
    the norm's weight as a column."""
    h = xt.float()
    h = h * h.pow(2).mean(0, keepdim=True).add_(eps).rsqrt_()
    return h.to(xt.dtype).mul_(w)


def _head_norm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    """Qwen3-VL's RMSNorm over each head of q or k, x (N, heads, D)."""
    h = x.float()
    h = h * h.pow(2).mean(-1, keepdim=True).add_(eps).rsqrt_()
    return w * h.to(x.dtype)


def decode_step(tokens, cos, sin, slot, bias, keys, values, weights, embed, norm_w, head_w, dims, span=None):
    """One decode step of every layer, a pure function of its tensors (so it can be compiled): writes the new
    token's keys and values into `slot` of each layer's buffers and returns the (N, V) next-token logits.

    The residual stream is kept transposed, (hidden, N): each projection is `W @ x`, the shape MKL runs fastest for
    a few rows, and the residual adds fold into the matmuls (addmm). Attention runs over the first `span` slots
    of each row and kv head's buffer in one baddbmm (all of them when None: one shape for every step, for the
    compiled step), the slots not yet written masked by `bias`.
    """
    H, KVH, D, eps = dims
    N = tokens.shape[0]
    span = span or bias.shape[-1]
    bias = bias[:, :, :span]
    xt = F.embedding(tokens, embed).t().contiguous()
    for (qkv_w, qkv_b, o, gate_up, down, ln1, ln2, q_norm, k_norm), kb, vb in zip(
        weights, keys, values, strict=True
    ):
        h = _norm(xt, ln1, eps)
        qkv = torch.mm(qkv_w, h) if qkv_b is None else torch.addmm(qkv_b, qkv_w, h)
        qkv = qkv.t().contiguous().view(N, H + 2 * KVH, D)
        qk, v = qkv[:, : H + KVH], qkv[:, H + KVH :]
        if q_norm is not None:
            qk = torch.cat([_head_norm(qk[:, :H], q_norm, eps), _head_norm(qk[:, H:], k_norm, eps)], 1)
        qk = torch.addcmul(qk * cos, qk.roll(D // 2, dims=-1), sin)
        kb.index_copy_(2, slot, qk[:, H:, None, :])
        vb.index_copy_(2, slot, v[:, :, None, :])
        q = qk[:, :H].reshape(N * KVH, H // KVH, D)
        k, vv = kb.view(N * KVH, -1, D)[:, :span], vb.view(N * KVH, -1, D)[:, :span]
        probs = torch.softmax(torch.baddbmm(bias, q, k.transpose(1, 2)), dim=-1)
        xt = torch.addmm(xt, o, torch.bmm(probs, vv).view(N, H * D).t())
        gate, up = torch.mm(gate_up, _norm(xt, ln2, eps)).chunk(2)
        xt = torch.addmm(xt, down, F.silu(gate).mul_(up))
    return torch.mm(head_w, _norm(xt, norm_w, eps)).t()


def compile_options() -> dict:
    """Inductor options: a C++ wrapper calls the kernels (no Python between them); with torch's kernels pinned to
    AVX2 (vrft.runtime.cpu_isa) the generated code is compiled for x86-64-v3 (AVX2 + FMA), not `-march=native`, so an
    AVX-512 machine builds the same code as an AVX2-only one (inductor already follows the pin's vector width)."""
    options: dict = {"cpp_wrapper": True}
    if os.environ.get("ATEN_CPU_CAPABILITY", "").lower() == "avx2":
        options["cpp.march"] = "x86-64-v3"
    return options


_COMPILED: dict = {}  # the process's compiled decode_step, built on first use (None once compiling has failed)


def run_step(compiled: bool, *args, span: int):
    """`decode_step(*args)`, through torch.compile over the whole buffer when `compiled` (see module doc), else
    eagerly over the first `span` slots; a compile that fails (no C++ compiler, an unsupported op) is logged once
    and the eager step serves from then on."""
    fn = _COMPILED.get("fn", ...) if compiled else None
    if fn is ...:
        fn = _COMPILED["fn"] = torch.compile(decode_step, fullgraph=True, options=compile_options())
    if fn is not None:
        try:
            return fn(*args)
        except Exception as err:  # noqa: BLE001 - any compiler failure falls back to the same eager function
            log.warning(
                "compiled decode step failed (%s: %s); decoding eagerly from now on", type(err).__name__, err
            )
            _COMPILED["fn"] = None
    return decode_step(*args, span=span)
