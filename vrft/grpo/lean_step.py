"""A hand-written decode step for the Qwen-VL text decoders (Qwen2-VL, Qwen2.5-VL, Qwen3-VL): one new token per
row, on top of the group's prompt cache kept once per prompt (not repeated G times).

Why by hand: at rollout sizes (B x G = 16 rows) a decode step is a few dozen small matmuls and a few hundred tiny
tensor ops, and transformers' forward spends much of its time in the ops around the matmuls (mask and rotary
construction per call, per-head reshapes, the repeated cache); no maintained library offers a CPU decode step for
these models over a shared prompt prefix. This one does the same arithmetic in fewer ops: q/k/v and gate/up each
in one matmul over weights concatenated once per rollout, rotary angles computed once per rollout for every step
and layer, and attention in two parts, the G rows of a group against their prompt's keys in one
matmul (the prompt's keys and values are read once per group, not once per row) and each row against its own
completion keys, joined in one softmax. Text tokens after the image carry the same position on all three mRoPE axes,
so the rotary embedding is the plain one at `position + rope_deltas`, as transformers computes it.

It is the same function of the weights as the model's forward and agrees with it up to float rounding (the
attention sums and matmul blocking differ); tests/test_speed_equivalence.py checks the logits against the model's
and that a seeded rollout draws the same tokens. `LeanStep.build` returns None (callers keep transformers' forward)
for anything else: other architectures, projections that are not plain `nn.Linear` (LoRA adapters, quantized
layers), activations other than SiLU, scaled rotary types, sliding-window attention, autocast. Left out: several
new tokens per call, attention dropout, any training use (it runs under no_grad only).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

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


def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """x @ w.T (+ b) for x of a few rows, computed as (w @ x.T).T: on CPU, MKL runs this shape faster
    than `F.linear`'s for 16 rows (same products, summed in another order)."""
    y = torch.mm(w, x.t()) if b is None else torch.addmm(b[:, None], w, x.t())
    return y.t()


def _cat(*tensors: torch.Tensor | None) -> torch.Tensor | None:
    return None if any(t is None for t in tensors) else torch.cat(tensors)


class LeanStep:
    """Decode steps of one rollout. Built after the prefill from the B-row prompt cache; `__call__(tokens, t)`
    runs completion token t-1 (positions `positions[:, t-1]`) and returns the logits that predict token t."""

    def __init__(
        self, lm, head, prompt_kv, prompt_mask: torch.Tensor, group: int, positions: torch.Tensor, extra: int
    ):
        cfg = lm.config
        self.H, self.KVH = cfg.num_attention_heads, cfg.num_key_value_heads
        self.D = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.H
        self.G, self.eps = group, cfg.rms_norm_eps
        self.embed, self.head_w, self.norm_w = lm.embed_tokens.weight, head.weight, lm.norm.weight
        self.layers = [self._layer(layer) for layer in lm.layers]
        self.scale = self.D**-0.5
        self.prompt_kv = prompt_kv  # per layer (K, V), each (B, KVH, P, D)
        B, P = prompt_mask.shape
        # additive mask over the prompt's padded keys, (B, 1, 1, P): broadcast over the grouped scores
        pad = torch.zeros(B, 1, 1, P, dtype=prompt_kv[0][0].dtype, device=prompt_mask.device)
        self.prompt_bias = pad.masked_fill(prompt_mask[:, None, None, :] == 0, float("-inf"))
        N = B * group
        k0 = prompt_kv[0][0]
        shape = (N, self.KVH, extra, self.D)
        self.keys = [k0.new_empty(shape) for _ in self.layers]
        self.values = [k0.new_empty(shape) for _ in self.layers]
        rot = lm.rotary_emb
        freqs = positions.float()[..., None] * rot.inv_freq.to(positions.device)  # (N, T, D/2)
        emb = torch.cat((freqs, freqs), dim=-1)
        dtype = k0.dtype
        self.cos = (emb.cos() * rot.attention_scaling).to(dtype)
        self.sin = (emb.sin() * rot.attention_scaling).to(dtype)

    @classmethod
    def build(
        cls, model, prompt_cache, prompt_mask: torch.Tensor, group: int, positions: torch.Tensor, extra: int
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
        return cls(lm, head, kv, prompt_mask, group, positions, extra)

    def _layer(self, layer) -> _Layer:
        a, f = layer.self_attn, layer.mlp
        qn, kn = getattr(a, "q_norm", None), getattr(a, "k_norm", None)
        return _Layer(
            qkv=torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]),
            qkv_bias=_cat(a.q_proj.bias, a.k_proj.bias, a.v_proj.bias),
            o=a.o_proj.weight,
            gate_up=torch.cat([f.gate_proj.weight, f.up_proj.weight]),
            down=f.down_proj.weight,
            ln1=layer.input_layernorm.weight,
            ln2=layer.post_attention_layernorm.weight,
            q_norm=None if qn is None else qn.weight,
            k_norm=None if kn is None else kn.weight,
        )

    def _norm(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return w * h.to(x.dtype)

    def _rope(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = self.D // 2
        return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin

    def __call__(self, tokens: torch.Tensor, t: int) -> torch.Tensor:
        """(N, V) logits predicting completion token t from completion token t-1 (`tokens`, (N,))."""
        H, KVH, D = self.H, self.KVH, self.D
        N = tokens.shape[0]
        cos, sin = self.cos[:, t - 1, None, :], self.sin[:, t - 1, None, :]  # (N, 1, D)
        x = F.embedding(tokens, self.embed)  # (N, hidden)
        for i, w in enumerate(self.layers):
            h = self._norm(x, w.ln1)
            qkv = _linear(h, w.qkv, w.qkv_bias).reshape(N, H + 2 * KVH, D)
            q, k, v = qkv.split([H, KVH, KVH], dim=1)
            if w.q_norm is not None:
                q, k = self._norm(q, w.q_norm), self._norm(k, w.k_norm)
            q, k = self._rope(q, cos, sin), self._rope(k, cos, sin)
            self.keys[i][:, :, t - 1] = k
            self.values[i][:, :, t - 1] = v
            x = x + _linear(self._attend(i, q, t), w.o)
            h = self._norm(x, w.ln2)
            gate, up = _linear(h, w.gate_up).chunk(2, dim=-1)
            x = x + _linear(F.silu(gate) * up, w.down)
        return _linear(self._norm(x, self.norm_w), self.head_w)

    def _attend(self, i: int, q: torch.Tensor, t: int) -> torch.Tensor:
        """(N, H*D) attention output of each row's query over its prompt's keys and its own first t completion
        keys, with the prompt's padding masked."""
        KVH, D, G = self.KVH, self.D, self.G
        N = q.shape[0]
        B, rep = N // G, self.H // KVH
        pk, pv = self.prompt_kv[i]
        ck, cv = self.keys[i][:, :, :t], self.values[i][:, :, :t]
        qh = q.view(N, KVH, rep, D) * self.scale
        qg = qh.view(B, G, KVH, rep, D).transpose(1, 2).reshape(B, KVH, G * rep, D)
        sp = torch.matmul(qg, pk.transpose(-1, -2)) + self.prompt_bias  # (B, KVH, G*rep, P)
        sc = torch.matmul(qh, ck.transpose(-1, -2))  # (N, KVH, rep, t)
        P = sp.shape[-1]
        sp = sp.view(B, KVH, G, rep, P).transpose(1, 2).reshape(N, KVH, rep, P)
        probs = torch.softmax(torch.cat([sp, sc], dim=-1).float(), dim=-1).to(q.dtype)
        pp, pc = probs.split([P, t], dim=-1)
        pp = pp.view(B, G, KVH, rep, P).transpose(1, 2).reshape(B, KVH, G * rep, P)
        out_p = torch.matmul(pp, pv).view(B, KVH, G, rep, D).transpose(1, 2).reshape(N, KVH, rep, D)
        out = out_p + torch.matmul(pc, cv)
        return out.reshape(N, self.H * D)
