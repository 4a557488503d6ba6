"""Fingerprint the float bits of the CPU kernels a vrft run uses, to find where two machines first differ.

`python -m vrft.runtime.fingerprint [--cpu-isa avx2|compatible|native] [--threads 2] > machine.json` pins the
kernels as a run would (`vrft.runtime.cpu_isa`), runs a fixed list of probes on seeded inputs and prints, per
probe, the SHA-256 prefix of its output's bytes, beside the CPU (vendor, model, vector flags), torch's kernel set
and the pinning variables in force. The probes go from the primitives a step is made of (matrix products of the
shapes a tiny model's step has, attention, softmax, norms, the vision tower's patch convolution, both AdamW
kernels, a linear layer's backward) to one forward and backward pass of a tiny Qwen2-VL built from config.
`python -m vrft.runtime.fingerprint --compare a.json b.json` prints each probe as same or different and the
first that differs: the kernel where two machines' runs part.

On one machine, with the same threads and library versions, every probe is the same from process to process
(tests/test_reproducibility.py). Left out: GPU kernels; timing (see `vrft.bench`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

ENV_KEYS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR", "OMP_NUM_THREADS")


def digest(t) -> str:
    """SHA-256 prefix of a tensor's bytes (its exact float bits)."""
    return hashlib.sha256(t.detach().contiguous().float().numpy().tobytes()).hexdigest()[:16]


def cpu_info() -> dict:
    """Vendor, model and vector flags of the first CPU in /proc/cpuinfo (empty where there is none)."""
    info: dict = {}
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return info
    for line in path.read_text().splitlines():
        key, _, value = (p.strip() for p in line.partition(":"))
        if key in ("vendor_id", "model name", "cpu family", "model") and key not in info:
            info[key] = value
        elif key == "flags" and "flags" not in info:
            info["flags"] = sorted(f for f in value.split() if f.startswith(("avx", "amx", "fma")))
    return info


def _primitive_probes(torch) -> dict[str, Callable]:
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g)

    a, b, x, w = r(16, 256), r(256, 768), r(1200, 256), r(1024, 256)
    q, k, v, z = r(8, 4, 100, 64), r(8, 4, 100, 64), r(8, 4, 100, 64), r(64, 2048)
    img, kernel = r(16, 3, 2, 14, 14), r(192, 3, 2, 14, 14)
    return {
        "mm_decode_16x256x768": lambda: a @ b,
        "mm_train_1200x256x1024": lambda: x @ w.T,
        "addmm": lambda: torch.addmm(w[:, 0], x, w.T),
        "bmm": lambda: torch.bmm(q.flatten(0, 1), k.flatten(0, 1).transpose(1, 2)),
        "sdpa_causal": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        "softmax": lambda: z.softmax(-1),
        "log_softmax": lambda: z.log_softmax(-1),
        "exp": lambda: z.exp(),
        "silu": lambda: F.silu(z),
        "sum": lambda: z.sum(-1),
        "rms_norm": lambda: z * torch.rsqrt(z.pow(2).mean(-1, keepdim=True) + 1e-6),
        "layer_norm": lambda: F.layer_norm(z, (2048,)),
        "conv3d_patches": lambda: F.conv3d(img, kernel, stride=(2, 14, 14)),
        "linear_backward": lambda: _linear_grad(torch, x),
        "adamw_fused": lambda: _adamw(torch, fused=True),
        "adamw_foreach": lambda: _adamw(torch, fused=False),
    }


def _linear_grad(torch, x):
    torch.manual_seed(0)
    lin = torch.nn.Linear(256, 256)
    lin(x).square().mean().backward()
    return lin.weight.grad


def _adamw(torch, fused: bool):
    g = torch.Generator().manual_seed(1)
    params = [torch.randn(256, 256, generator=g).requires_grad_() for _ in range(3)]
    opt = torch.optim.AdamW(params, lr=1e-3, fused=fused, foreach=None if fused else True)
    for _ in range(3):
        for p in params:
            p.grad = torch.randn(256, 256, generator=g)
        opt.step()
    return torch.cat([p.detach().flatten() for p in params])


def _model_probes(torch, cache_dir: Path) -> dict[str, Callable]:
    """The tiny Qwen2-VL of the tests (hidden 64, 2 layers), built from config: logits and gradients."""
    from transformers import AutoModelForImageTextToText

    from vrft.models.spec import TinySpec
    from vrft.models.tiny import build_tiny

    folder = build_tiny(TinySpec(), cache_dir)
    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32)
    ids = torch.arange(10, 74)[None].repeat(2, 1)
    out = {}

    def forward():
        out["logits"] = model(input_ids=ids, mm_token_type_ids=torch.zeros_like(ids)).logits
        return out["logits"]

    def backward():
        model.zero_grad()
        forward().float().logsumexp(-1).mean().backward()
        return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    return {"tiny_model_forward": forward, "tiny_model_backward": backward}


def fingerprint(cache_dir: Path) -> dict:
    """The machine's description and one digest per probe, in probe order."""
    import torch

    from vrft.runtime.cpu_isa import cpu_capability

    probes = {**_primitive_probes(torch), **_model_probes(torch, cache_dir)}
    return {
        "cpu": cpu_info(),
        "torch": torch.__version__,
        "capability": cpu_capability(),
        "threads": torch.get_num_threads(),
        "env": {k: os.environ.get(k) for k in ENV_KEYS},
        "probes": {name: digest(fn()) for name, fn in probes.items()},
    }


def compare(a: dict, b: dict) -> tuple[list[str], str | None]:
    """(one line per probe, the first probe whose bits differ or None)."""
    lines, first = [], None
    for name, value in a["probes"].items():
        same = b["probes"].get(name) == value
        lines.append(f"{name:24s} {'same' if same else 'DIFFERENT'}")
        if not same and first is None:
            first = name
    return lines, first


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m vrft.runtime.fingerprint", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--cpu-isa", default="avx2", help="the kernel pin, as runtime.cpu_isa (default avx2)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads, as runtime.num_threads")
    ap.add_argument("--cache-dir", default=".cache", help="where the tiny model is built")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two fingerprints instead")
    args = ap.parse_args(argv)
    if args.compare:
        a, b = (json.loads(Path(p).read_text()) for p in args.compare)
        for key in ("cpu", "capability", "threads", "env", "torch"):
            print(f"{key}: A {a.get(key)} | B {b.get(key)}")
        lines, first = compare(a, b)
        print("\n".join(lines))
        print(f"first difference: {first}")
        return 0
    from vrft.runtime.cpu_isa import pin_cpu_isa

    pin_cpu_isa(args.cpu_isa)  # before torch is imported, as the entry point does
    import torch

    torch.set_num_threads(args.threads)
    json.dump(fingerprint(Path(args.cache_dir)), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
