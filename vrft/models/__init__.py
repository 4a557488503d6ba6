"""Models (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Qwen3.5): tiny models built locally, the loader, the processor helper, LoRA.

Imports stay light. Left out: the codecs (vrft.models.codec) and the tokenizer recipe (vrft.models.tokenizer).
"""

from vrft.models.loader import load_model, model_family, resolve_path
from vrft.models.lora import apply_lora, count_parameters, freeze_vision_tower
from vrft.models.processor import load_processor, pixel_bounds, set_pixel_bounds
from vrft.models.spec import LoraSpec, ModelSpec, TinySpec
from vrft.models.tiny import (
    PRESETS,
    SMALL,
    TINY,
    TINY_QWEN2_5_VL,
    TINY_QWEN3_5,
    TINY_QWEN3_VL,
    build_tiny,
    integer_tokens,
    invalid_token_ids,
)

__all__ = [
    "PRESETS",
    "SMALL",
    "TINY",
    "TINY_QWEN2_5_VL",
    "TINY_QWEN3_5",
    "TINY_QWEN3_VL",
    "LoraSpec",
    "ModelSpec",
    "TinySpec",
    "apply_lora",
    "build_tiny",
    "count_parameters",
    "freeze_vision_tower",
    "integer_tokens",
    "invalid_token_ids",
    "load_model",
    "load_processor",
    "model_family",
    "pixel_bounds",
    "resolve_path",
    "set_pixel_bounds",
]
