"""Random-weight models with the real Qwen2-VL-2B-Instruct and Qwen2.5-VL-3B-Instruct architectures, built from
config with no download, for the benchmark's device mode (`python -m vrft.bench --device cuda --model NAME`).

The text and vision towers take every shape value of the published `config.json` (values below, sources in the
comments), the real 151,936-row embedding and output layer included, so the step does the real model's arithmetic.
The tokenizer is the small byte-level BPE that `vrft.models.tiny` trains locally (~1k tokens): the special-token
ids come from it, and generation never samples ids past it (`invalid_token_ids`), so a completion is sampled from
~1k tokens while its logits are computed over all 151,936 rows. The folder is built once under
`cache_dir/arch/<name>-<hash>/` (weights in the config's bf16) and loads like any checkpoint.

Left out: pretrained weights (the model is random), the real 151k tokenizer, Qwen3-VL and the 7B sizes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from vrft.models.tiny import SPECIAL_TOKENS, TinySpec, _generation_config, _processor, build_tokenizer
from vrft.paths import ensure

_RECIPE_VERSION = 1

# Qwen/Qwen2-VL-2B-Instruct config.json (huggingface.co/Qwen/Qwen2-VL-2B-Instruct/blob/main/config.json):
# 2.21 B parameters as the model card states (tests/test_bench_device.py counts them).
QWEN2_VL_2B = {
    "family": "qwen2_vl",
    "text": dict(
        vocab_size=151936,
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        max_window_layers=28,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
        tie_word_embeddings=True,
    ),
    "vision": dict(
        depth=32,
        embed_dim=1280,
        mlp_ratio=4,
        num_heads=16,
        in_chans=3,
        hidden_size=1536,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
    ),
}

# Qwen/Qwen2.5-VL-3B-Instruct config.json (huggingface.co/Qwen/Qwen2.5-VL-3B-Instruct/blob/main/config.json):
# 3.75 B parameters as the model card states.
QWEN2_5_VL_3B = {
    "family": "qwen2_5_vl",
    "text": dict(
        vocab_size=151936,
        hidden_size=2048,
        intermediate_size=11008,
        num_hidden_layers=36,
        num_attention_heads=16,
        num_key_value_heads=2,
        max_position_embeddings=128000,
        max_window_layers=70,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
        tie_word_embeddings=True,
    ),
    "vision": dict(
        depth=32,
        hidden_act="silu",
        hidden_size=1280,
        intermediate_size=3420,
        num_heads=16,
        in_chans=3,
        out_hidden_size=2048,
        patch_size=14,
        spatial_merge_size=2,
        window_size=112,
        fullatt_block_indexes=[7, 15, 23, 31],
        tokens_per_second=2,
        temporal_patch_size=2,
    ),
}

# conf/model names whose architecture is built here (their `path` is replaced by the built folder)
ARCHS = {"qwen2_vl_2b": QWEN2_VL_2B, "qwen2_5_vl_3b": QWEN2_5_VL_3B}


def tokenizer_spec(arch: dict) -> TinySpec:
    """The tiny spec whose tokenizer (and image-processor pixel bounds) the built model uses."""
    return TinySpec(family=arch["family"], max_pixels=401408)  # [script] --max_pixels 512*28*28


def build_config(arch: dict, tokenizer):
    """The model config: the published shapes, token ids from `tokenizer`."""
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig

    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    if max(ids.values()) >= arch["text"]["vocab_size"]:
        raise ValueError("the tokenizer does not fit the embedding")
    text = dict(
        arch["text"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    cls = Qwen2VLConfig if arch["family"] == "qwen2_vl" else Qwen2_5_VLConfig
    return cls(
        text_config=text,
        vision_config=dict(arch["vision"]),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=arch["text"]["tie_word_embeddings"],
    )


def model_class(family: str):
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration

    return {"qwen2_vl": Qwen2VLForConditionalGeneration, "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration}[
        family
    ]


def count_parameters(name: str) -> int:
    """Parameters of the named architecture, counted on the meta device (nothing is allocated)."""
    import torch

    arch = ARCHS[name]
    config = build_config(arch, build_tokenizer(tokenizer_spec(arch)))
    with torch.device("meta"):
        model = model_class(arch["family"])(config)
    return sum(p.numel() for p in model.parameters())


def build_arch(name: str, cache_dir: Path, *, device: str = "cpu", seed: int = 0) -> Path:
    """Build (once) and return `cache_dir/arch/<name>-<hash>/`: random weights drawn from `seed` on `device`."""
    arch = ARCHS[name]
    blob = json.dumps({"recipe": _RECIPE_VERSION, "seed": seed, **arch}, sort_keys=True, default=str)
    final = Path(cache_dir) / "arch" / f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"

    def write(tmp: Path) -> None:
        _build_into(arch, tmp, device=device, seed=seed)
        (tmp / "vrft_arch.json").write_text(json.dumps({"name": name, "seed": seed}) + "\n")

    ensure(final, write, marker="vrft_arch.json")
    return final


def _build_into(arch: dict, folder: Path, *, device: str, seed: int) -> None:
    import torch

    spec = tokenizer_spec(arch)
    tokenizer = build_tokenizer(spec)
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(seed)
        model = model_class(arch["family"])(build_config(arch, tokenizer))
    model.to(torch.bfloat16)  # the published checkpoints' dtype
    model.generation_config = _generation_config(tokenizer)
    model.save_pretrained(folder)
    _processor(spec, tokenizer).save_pretrained(folder)
