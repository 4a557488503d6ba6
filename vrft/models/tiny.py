"""Tiny Qwen-VL models built locally: a trained byte-level BPE tokenizer, a small config, random weights.

`build_tiny(spec, cache_dir)` makes a real `Qwen2VLForConditionalGeneration` / `Qwen2_5_VLForConditionalGeneration` /
`Qwen3VLForConditionalGeneration` / `Qwen3_5ForConditionalGeneration` from a `TinySpec`, with a tokenizer trained on
a generated corpus (vrft.models.tokenizer: Qwen special tokens; `<think>`/`<answer>` tags as normal tokens), the
family's chat template, an image processor with explicit pixel bounds (Qwen3-VL and Qwen3.5: 16-px patches, 32 px per
merged token) and explicit sampling defaults, and saves it with `save_pretrained` into `cache_dir/<family>-<hash of the spec>/` (built once, atomically;
the same spec always gives the same weights and tokenizer). The folder then loads like any checkpoint.

Left out: loading (vrft.models.loader), the processor class used to load (vrft.models.processor), the MoE variants
(Qwen3-VL-MoE, Qwen3.5-MoE), Qwen3.5's multi-token-prediction head, videos, and any pretrained knowledge: the weights are random.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from vrft.models.processor import processor_class
from vrft.models.spec import TinySpec
from vrft.models.tokenizer import CHAT_TEMPLATES, SPECIAL_TOKENS, VISION_TOKENS, build_tokenizer
from vrft.paths import ensure

TINY = TinySpec()
SMALL = TinySpec(hidden_size=384, num_layers=6, num_heads=6, intermediate_size=1024, vocab_size=2048)
SMALL = dataclasses.replace(SMALL, vision_depth=4, vision_embed_dim=256, vision_num_heads=4)
TINY_QWEN2_5_VL = dataclasses.replace(TINY, family="qwen2_5_vl")
TINY_QWEN3_VL = dataclasses.replace(TINY, family="qwen3_vl")
TINY_QWEN3_5 = dataclasses.replace(TINY, family="qwen3_5", num_layers=4)  # 3 linear-attention layers + 1 full
PRESETS = {"tiny": TINY, "small": SMALL, "tiny_qwen2_5_vl": TINY_QWEN2_5_VL, "tiny_qwen3_vl": TINY_QWEN3_VL}
PRESETS["tiny_qwen3_5"] = TINY_QWEN3_5


def integer_tokens(low: int = 0, high: int = 1000) -> tuple[str, ...]:
    """One token per integer low..high inclusive (Qwen2-VL box coordinates are integers 0..1000)."""
    return tuple(str(i) for i in range(low, high + 1))


def build_tiny(spec: TinySpec, cache_dir: Path) -> Path:
    """Build (once) and return `cache_dir/<family>-<hash>/`; a finished folder is reused as it is."""
    cache_dir = Path(cache_dir)
    final = cache_dir / f"{spec.family}-{spec.short_hash()}"
    ensure(final, lambda tmp: _build_into(spec, tmp), marker="vrft_tiny_spec.json")
    return final


def _build_into(spec: TinySpec, folder: Path) -> None:
    if spec.tokenizer == "qwen":
        from vrft.models.qwen_vocab import qwen_tokenizer

        tokenizer = qwen_tokenizer(spec.family, folder.parent)
    else:
        tokenizer = build_tokenizer(spec)
    model = init_model(spec, tokenizer)
    model.save_pretrained(folder)
    _processor(spec, tokenizer).save_pretrained(folder)
    (folder / "vrft_tiny_spec.json").write_text(json.dumps(dataclasses.asdict(spec), indent=1) + "\n")


def build_config(spec: TinySpec, tokenizer):
    """The model config: small text and vision towers, token ids from `tokenizer`, M-RoPE sections from head_dim."""
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig, Qwen3_5Config, Qwen3VLConfig

    classes = {"qwen2_vl": Qwen2VLConfig, "qwen2_5_vl": Qwen2_5_VLConfig, "qwen3_vl": Qwen3VLConfig}
    cls = (classes | {"qwen3_5": Qwen3_5Config})[spec.family]
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    return cls(
        text_config=_text_config(spec, len(tokenizer), ids),
        vision_config=_vision_config(spec),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=spec.tie_word_embeddings,
    )


def mrope_sections(spec: TinySpec) -> list[int]:
    """(t, h, w) rotary sections summing to head_dim / 2.

    Qwen2-VL / Qwen2.5-VL: about a quarter for t, the rest split between h and w (their checkpoints: 16, 24, 24).
    Qwen3-VL: the ratio of its checkpoints' [24, 20, 20], applied interleaved (`mrope_interleaved`).
    Qwen3.5: the ratio of its checkpoints' [11, 11, 10] over the rotary quarter of head_dim (`partial_rotary_factor`
    0.25), interleaved.
    """
    if spec.family == "qwen3_5":
        half = int(QWEN3_5_HEAD_DIM * QWEN3_5_ROTARY) // 2
        t = round(half * 11 / 32)
        return [t, t, half - 2 * t]
    half = spec.hidden_size // spec.num_heads // 2
    if spec.family == "qwen3_vl":
        hw = half * 20 // 64
        return [half - 2 * hw, hw, hw]
    t = half // 4
    return [t, (half - t) // 2, half - t - (half - t) // 2]


def _text_config(spec: TinySpec, tokens: int, ids: dict[str, int]) -> dict:
    rope = {"rope_type": "default", "rope_theta": spec.rope_theta, "mrope_section": mrope_sections(spec)}
    text = dict(
        vocab_size=-(-tokens // 64) * 64,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_position_embeddings,
        rope_parameters=rope,
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=spec.tie_word_embeddings,
    )
    if spec.family == "qwen3_5":
        rope |= dict(mrope_interleaved=True, partial_rotary_factor=QWEN3_5_ROTARY)
        return text | _qwen3_5_text(spec)
    if spec.family == "qwen3_vl":
        rope["mrope_interleaved"] = True
        return text | dict(head_dim=spec.hidden_size // spec.num_heads)
    return text | dict(max_window_layers=spec.num_layers)


# Qwen3.5 text: the checkpoints' head_dim 256 and rotary quarter scaled down; its Gated DeltaNet layers take
# `linear_*` sizes of their own. `full_attention_interval` 4 is the checkpoints' layer pattern: three Gated DeltaNet
# (linear attention) layers, then one gated full-attention layer.
QWEN3_5_HEAD_DIM = 64
QWEN3_5_ROTARY = 0.25


def _qwen3_5_text(spec: TinySpec) -> dict:
    heads = spec.num_kv_heads
    return dict(
        head_dim=QWEN3_5_HEAD_DIM,
        linear_conv_kernel_dim=4,
        linear_key_head_dim=spec.hidden_size // spec.num_heads,
        linear_value_head_dim=spec.hidden_size // spec.num_heads,
        linear_num_key_heads=heads,
        linear_num_value_heads=2 * heads,
        full_attention_interval=4,
    )


def _vision_config(spec: TinySpec) -> dict:
    vision = dict(depth=spec.vision_depth, num_heads=spec.vision_num_heads)
    if spec.family == "qwen2_vl":
        return vision | dict(
            embed_dim=spec.vision_embed_dim, hidden_size=spec.hidden_size, mlp_ratio=spec.vision_mlp_ratio
        )
    vision |= dict(
        hidden_size=spec.vision_embed_dim,
        out_hidden_size=spec.hidden_size,
        intermediate_size=spec.vision_embed_dim * spec.vision_mlp_ratio,
    )
    if spec.family == "qwen2_5_vl":
        return vision | dict(fullatt_block_indexes=[spec.vision_depth - 1])
    # Qwen3-VL: 16-px patches merged 2x2 (32 px per token), a learned position grid (16x16 here; the checkpoints'
    # is 48x48, resampled to each image either way), one deepstack layer (the checkpoints tap three). Qwen3.5: the
    # same vision layout without deepstack.
    if spec.family == "qwen3_5":
        return vision | dict(
            patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=256
        )
    return vision | dict(
        patch_size=16,
        spatial_merge_size=2,
        temporal_patch_size=2,
        num_position_embeddings=256,
        deepstack_visual_indexes=[spec.vision_depth // 2],
    )


def init_model(spec: TinySpec, tokenizer):
    """The model with random weights drawn from `spec.seed` (the global torch RNG is left untouched)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = _model_class(spec.family)(build_config(spec, tokenizer))
    model.generation_config = _generation_config(tokenizer)
    return model


def _model_class(family: str):
    import transformers

    classes = {
        "qwen2_vl": transformers.Qwen2VLForConditionalGeneration,
        "qwen2_5_vl": transformers.Qwen2_5_VLForConditionalGeneration,
        "qwen3_vl": transformers.Qwen3VLForConditionalGeneration,
        "qwen3_5": transformers.Qwen3_5ForConditionalGeneration,
    }
    return classes[family]


def _generation_config(tokenizer):
    """Explicit sampling defaults (transformers' classic top_k=50, top_p=1, temperature=1), never near-greedy."""
    from transformers import GenerationConfig

    end = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    sampling = dict(do_sample=True, temperature=1.0, top_k=50, top_p=1.0)
    return GenerationConfig(**sampling, eos_token_id=end, pad_token_id=end[1], bos_token_id=end[1])


def _processor(spec: TinySpec, tokenizer):
    from transformers import Qwen2VLImageProcessorPil

    kwargs = dict(min_pixels=spec.min_pixels, max_pixels=spec.max_pixels)
    # Qwen3-VL-*-Instruct's preprocessor_config.json: 16-px patches, 0.5 mean and std
    if spec.family in ("qwen3_vl", "qwen3_5"):
        kwargs |= dict(patch_size=16, merge_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    image_processor = Qwen2VLImageProcessorPil(**kwargs)
    chat_template = CHAT_TEMPLATES[spec.family]
    return processor_class(spec.family)(image_processor, tokenizer, chat_template=chat_template)


def invalid_token_ids(model, tokenizer) -> list[int]:
    """Ids generation must never sample: rows past the tokenizer (embedding padding) and the vision tokens."""
    rows = model.get_output_embeddings().weight.shape[0]
    ids = {tokenizer.convert_tokens_to_ids(t) for t in VISION_TOKENS}
    ids = {i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id and 0 <= i < rows}
    return sorted(ids | set(range(len(tokenizer), rows)))
