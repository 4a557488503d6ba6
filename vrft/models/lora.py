"""LoRA adapters (peft) on the language model, optionally on the vision tower; freezing and parameter counts.

`apply_lora` wraps the policy in a peft model. Without `include_vision` the vision tower gets no adapter (a target
regex that skips `visual.` modules) and stays frozen, as peft freezes every base weight. With LoRA the reference model
is the policy itself under `model.disable_adapter()`, so no second copy is loaded.

Left out: QLoRA / quantisation, DoRA and other adapter types, merging adapters into the weights (peft's
`merge_and_unload`).
"""

from __future__ import annotations

import re

from vrft.errors import ConfigError
from vrft.models.spec import LoraSpec

# Linear layers of the vision blocks (Qwen2-VL: attn.qkv, attn.proj, mlp.fc1, mlp.fc2; Qwen2.5-VL's MLP uses
# gate_proj/up_proj/down_proj, already in the default target list; Qwen3-VL's MLP: linear_fc1, linear_fc2). The patch
# embedding and the mergers (Qwen3-VL's deepstack mergers too) get none.
VISION_TARGETS = ("qkv", "proj", "fc1", "fc2", "linear_fc1", "linear_fc2")


def is_vision_parameter(name: str) -> bool:
    """True for parameters of the vision tower (a `visual` module anywhere in the dotted name)."""
    return "visual" in name.split(".")


def target_regex(spec: LoraSpec) -> str:
    """peft `target_modules` regex (full match): the named layers outside the vision tower, and with
    `include_vision` also the named and `VISION_TARGETS` layers inside the vision blocks."""
    names = "|".join(re.escape(n) for n in spec.target_modules)
    language = rf"(?!(.*\.)?visual\.).*\.(?:{names})"
    if not spec.include_vision:
        return language
    vision = "|".join(re.escape(n) for n in dict.fromkeys(spec.target_modules + VISION_TARGETS))
    return rf"{language}|(.*\.)?visual\.blocks\.\d+\.(?:attn|mlp)\.(?:{vision})"


def apply_lora(model, spec: LoraSpec):
    """The model wrapped with LoRA adapters (only adapters train), or `model` unchanged when disabled."""
    if not spec.enabled:
        return model
    from peft import LoraConfig, get_peft_model

    targets = target_regex(spec)
    config = LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, config)
    except ValueError as err:
        raise ConfigError(f"model.lora.target_modules={targets}: {str(err).splitlines()[0]}") from err


def freeze_vision_tower(model) -> int:
    """Stop gradients to every vision-tower parameter; returns how many parameters were frozen."""
    frozen = 0
    for name, param in model.named_parameters():
        if is_vision_parameter(name):
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen


def count_parameters(model) -> dict[str, int]:
    """{"total", "trainable", "vision_trainable"} parameter counts (shared/tied weights counted once)."""
    total = trainable = vision = 0
    for name, param in model.named_parameters():
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
            vision += param.numel() if is_vision_parameter(name) else 0
    return {"total": total, "trainable": trainable, "vision_trainable": vision}
