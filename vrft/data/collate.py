"""Collate rows into model inputs, in DataLoader workers: open images, apply the chat template, run the processor.

A row is `{"image", "problem", "solution", "kind", "meta"}` (see `vrft.data.rows`). The user turn is the image
followed by the problem text, with the checkpoint's own chat template and no extra system prompt (the paper's
training, spec 2.1). Prompts are left-padded for generation. `PromptCollator` serves GRPO and evaluation (it can
split one optimizer step's prompts into micro-batches); `SFTCollator` appends the target and masks the prompt in
the labels. Left out: several images per prompt, video.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from vrft.data.images import open_image


def load_image(image: Any) -> Image.Image:
    """A file path or a PIL image (released HF datasets) -> an RGB PIL image."""
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    return open_image(image)


# Thinking mode off, in training and evaluation alike: a thinking model's template (Qwen3.5) would otherwise open
# "<think>\n" in the prompt, and the Visual-RFT format reward reads <think>...</think><answer>...</answer> in the
# completion. With it off, Qwen3.5's prompt ends with an empty think block and the model writes its own tags as the
# task prompt asks. Templates without the switch (Qwen2-VL, Qwen2.5-VL, Qwen3-VL) ignore it.
CHAT_KWARGS = {"enable_thinking": False}


def chat_kwargs(processor) -> dict:
    """The `CHAT_KWARGS` the processor's template reads (transformers warns, per call, about any other)."""
    template = str(getattr(processor, "chat_template", None) or "")
    return {k: v for k, v in CHAT_KWARGS.items() if k in template}


def chat_text(processor, problem: str, target: str | None = None) -> str:
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": problem}]}]
    text = processor.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, **chat_kwargs(processor)
    )
    return text if target is None else text + target


def encode(processor, texts: list[str], images: list[Image.Image]) -> dict[str, torch.Tensor]:
    enc = processor(text=texts, images=images, padding=True, return_tensors="pt")
    if "mm_token_type_ids" not in enc:  # older processors: mark image pad tokens ourselves
        pad_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        enc["mm_token_type_ids"] = (enc["input_ids"] == pad_id).long()
    return dict(enc)


def columns(rows: list[dict]) -> dict[str, list]:
    return {k: [r.get(k) for r in rows] for k in ("problem", "solution", "kind", "meta")}


class PromptCollator:
    """rows -> {"inputs": tensors, "problem", "solution", "kind", "meta", "images"} (prompts left-padded)."""

    def __init__(self, processor):
        self.processor = processor

    def __call__(self, rows: list[dict]) -> dict:
        images = [load_image(r["image"]) for r in rows]
        texts = [chat_text(self.processor, r["problem"]) for r in rows]
        return {"inputs": encode(self.processor, texts, images), "images": images, **columns(rows)}


class MicroBatches:
    """One optimizer step's rows -> {"micro": [collated batch of at most `size` rows, ...]}."""

    def __init__(self, inner, size: int):
        self.inner = inner
        self.size = size

    def __call__(self, rows: list[dict]) -> dict:
        return {"micro": [self.inner(rows[i : i + self.size]) for i in range(0, len(rows), self.size)]}


class SFTCollator:
    """rows + targets -> inputs with `labels` (-100 on prompt and padding), right padding for training."""

    def __init__(self, processor, target_fn):
        self.processor = processor
        self.target_fn = target_fn

    def __call__(self, rows: list[dict]) -> dict:
        tok = self.processor.tokenizer
        images = [load_image(r["image"]) for r in rows]
        prompts = [chat_text(self.processor, r["problem"]) for r in rows]
        eos = tok.eos_token or ""
        fulls = [p + self.target_fn(r) + eos for p, r in zip(prompts, rows, strict=True)]
        side = tok.padding_side
        tok.padding_side = "right"
        try:
            enc = encode(self.processor, fulls, images)
            prompt_lens = encode(self.processor, prompts, images)["attention_mask"].sum(1).tolist()
        finally:
            tok.padding_side = side
        labels = enc["input_ids"].clone()
        labels[enc["attention_mask"] == 0] = -100
        for i, n in enumerate(prompt_lens):
            labels[i, :n] = -100
        enc["labels"] = labels
        return {"inputs": enc, "images": images, **columns(rows)}
