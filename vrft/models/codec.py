"""Coordinate codecs: how a model family writes box coordinates in its answers.

One codec per Hugging Face config `model_type`, used both when dataset rows are built (encode ground truth) and
when predictions are evaluated (decode answers), so the two cannot disagree:

- `qwen2_vl`: integers 0..1000 relative to the original image, `int(x / W * 1000)` as the paper's gen_sft.py;
  decoded as `x / 1000 * W` (the paper's `trans_bbox`).
- `qwen2_5_vl`: absolute pixels of the image after the processor's `smart_resize` (the factor is the vision
  patch size times the merge size, 28 for Qwen2.5-VL); decoded back to the original image by the resize ratio.
- `qwen3_vl`: integers 0..1000 relative to the original image, the `qwen2_vl` codec. Source: Qwen3-VL's grounding
  cookbook (github.com/QwenLM/Qwen3-VL, cookbooks/2d_grounding.ipynb): "Qwen3-VL's default coordinate system has
  been changed from the absolute coordinates used in Qwen2.5-VL to relative coordinates ranging from 0 to 1000",
  decoded there as `int(bbox_2d[i] / 1000 * width)` (height for y); the resize (32-px tokens) plays no part.
- `qwen3_5`: integers 0..1000 relative to the original image, the Qwen3-VL convention. Qwen3.5 keeps Qwen3-VL's
  vision side (transformers' `Qwen3_5VisionConfig`: 16-px patches merged 2x2, and `AutoProcessor` maps `qwen3_5`
  to `Qwen3VLProcessor`); the issue cites Qwen's documentation for the relative 0..1000 boxes, which could not be
  re-read offline here (docs/models.md).

The codec is chosen from the model config's type, never from a checkpoint path. Left out: point and polygon
outputs, and families other than the Qwen VL ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from vrft.errors import ConfigError
from vrft.registry import Registry, RegistryError

try:  # the PIL image processor module has the same function and imports without torchvision
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize
except ImportError:  # pragma: no cover - older transformers
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

CODECS = Registry("coordinate codec")


class Codec(Protocol):
    """Box coordinates between absolute pixels of the original image and a model's answer space."""

    name: str

    def encode(self, box_abs: Sequence[float], width: int, height: int) -> list[int]: ...

    def decode(self, box_model: Sequence[float], width: int, height: int) -> tuple[float, ...]: ...


def _scaled(coords: Sequence[float], sx: float, sy: float) -> list[float]:
    """Scale alternating x, y coordinates (x1, y1, x2, y2, ...) by sx and sy."""
    if len(coords) % 2:
        raise ValueError(f"box needs x, y pairs, got {len(coords)} values: {list(coords)}")
    return [float(v) * (sx if i % 2 == 0 else sy) for i, v in enumerate(coords)]


def _clamp(values: list[float], width: float, height: float) -> list[float]:
    return [min(max(v, 0.0), width if i % 2 == 0 else height) for i, v in enumerate(values)]


@dataclass(frozen=True)
class Norm1000Codec:
    """Integers 0..1000 relative to the original image (Qwen2-VL, Qwen3-VL; independent of the resize)."""

    name: str = "norm1000"

    def encode(self, box_abs: Sequence[float], width: int, height: int) -> list[int]:
        scaled = _clamp(_scaled(box_abs, 1000 / width, 1000 / height), 1000, 1000)
        return [int(v) for v in scaled]  # truncation, as gen_sft.py's int(box / w * 1000)

    def decode(self, box_model: Sequence[float], width: int, height: int) -> tuple[float, ...]:
        return tuple(_scaled(box_model, width / 1000, height / 1000))


@dataclass(frozen=True)
class ResizedPixelCodec:
    """Absolute pixels of the processor-resized image (Qwen2.5-VL), via transformers' `smart_resize`."""

    min_pixels: int
    max_pixels: int
    factor: int = 28
    name: str = "resized_pixels"

    def resized(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of the image the model sees."""
        h, w = smart_resize(
            height, width, factor=self.factor, min_pixels=self.min_pixels, max_pixels=self.max_pixels
        )
        return w, h

    def encode(self, box_abs: Sequence[float], width: int, height: int) -> list[int]:
        rw, rh = self.resized(width, height)
        scaled = _clamp(_scaled(box_abs, rw / width, rh / height), rw, rh)
        return [round(v) for v in scaled]

    def decode(self, box_model: Sequence[float], width: int, height: int) -> tuple[float, ...]:
        rw, rh = self.resized(width, height)
        return tuple(_scaled(box_model, width / rw, height / rh))


@CODECS.register("qwen2_vl")
def _qwen2_vl(*, min_pixels: int, max_pixels: int, factor: int) -> Codec:
    return Norm1000Codec()


@CODECS.register("qwen3_vl")
def _qwen3_vl(*, min_pixels: int, max_pixels: int, factor: int) -> Codec:
    return Norm1000Codec()


@CODECS.register("qwen3_5")
def _qwen3_5(*, min_pixels: int, max_pixels: int, factor: int) -> Codec:
    return Norm1000Codec()


@CODECS.register("qwen2_5_vl")
def _qwen2_5_vl(*, min_pixels: int, max_pixels: int, factor: int) -> Codec:
    return ResizedPixelCodec(min_pixels=min_pixels, max_pixels=max_pixels, factor=factor)


def get_codec(model_type: str, *, min_pixels: int, max_pixels: int, factor: int = 28) -> Codec:
    """The codec for a HF config `model_type`; min/max pixels and factor are the image processor's settings."""
    try:
        make = CODECS.get(model_type)
    except RegistryError as err:
        raise ConfigError(
            f"model config type: {err} (the codec is chosen by the config's model_type)"
        ) from None
    return make(min_pixels=min_pixels, max_pixels=max_pixels, factor=factor)


def codec_for(config: Any, image_processor: Any) -> Codec:
    """The codec for a loaded model config and its image processor (resize settings read from the processor)."""
    size = getattr(image_processor, "size", None) or {}
    min_pixels = size.get("shortest_edge") or getattr(image_processor, "min_pixels", None)
    max_pixels = size.get("longest_edge") or getattr(image_processor, "max_pixels", None)
    if min_pixels is None or max_pixels is None:
        raise ConfigError(f"image processor {type(image_processor).__name__} has no min/max pixels setting")
    factor = int(image_processor.patch_size) * int(image_processor.merge_size)
    return get_codec(config.model_type, min_pixels=int(min_pixels), max_pixels=int(max_pixels), factor=factor)
