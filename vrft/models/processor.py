"""The one way vrft loads a Qwen-VL processor (image processor + tokenizer + chat template).

transformers 5's Qwen2-VL / Qwen2.5-VL / Qwen3-VL processors require a video processor, whose class needs torchvision.
The subclasses here keep the library class names (so saved folders still name `Qwen2VLProcessor` or
`Qwen3VLProcessor`) but take images and text only. What they save is a complete transformers processor all the same:
`processor_config.json` also holds the family's video processor (`video_settings`), so `AutoProcessor` and
`pipeline("image-text-to-text")` load a saved folder wherever transformers' video processors load (they import
torchvision). `load_processor` takes the PIL image processor whether or not torchvision is installed, sets its pixel bounds
explicitly and fails with a `ModelError` naming the folder when files are missing.

Left out: videos, and families other than Qwen2-VL, Qwen2.5-VL and Qwen3-VL (dense; not the MoE variants).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from vrft.errors import ModelError
from vrft.models.spec import FAMILIES


@functools.cache
def processor_class(family: str) -> type:
    """The image-and-text processor class for a model family (`config.model_type`).

    A subclass of the library's processor with the same class name whose `__init__` takes no video processor
    (built on first use, so importing this module stays free of transformers).
    """
    if family not in FAMILIES:
        raise ModelError(f"no processor for model family {family!r}; supported: {', '.join(FAMILIES)}")
    if family == "qwen3_5":  # Qwen3.5 ships Qwen3-VL's processor (transformers' AutoProcessor mapping)
        return processor_class("qwen3_vl")
    import transformers

    base = {
        "qwen2_vl": transformers.Qwen2VLProcessor,
        "qwen2_5_vl": transformers.Qwen2_5_VLProcessor,
        "qwen3_vl": transformers.Qwen3VLProcessor,
    }[family]

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        base.__init__(self, image_processor, tokenizer, chat_template=chat_template, **kwargs)

    def to_dict(self) -> dict:
        out = base.to_dict(self)
        out["video_processor"] = video_settings(out["image_processor"], VIDEO_PROCESSORS[base.__name__])
        return out

    doc = f"{base.__name__} for images and text, without a video processor (saved with the settings of one)."
    attrs = {"__init__": __init__, "to_dict": to_dict, "__doc__": doc, "__module__": __name__}
    return type(base.__name__, (base,), attrs)


# The video processor transformers pairs with each processor (its VIDEO_PROCESSOR_MAPPING_NAMES: Qwen2.5-VL takes
# Qwen2-VL's, Qwen3.5 Qwen3-VL's).
VIDEO_PROCESSORS = {
    "Qwen2VLProcessor": "Qwen2VLVideoProcessor",
    "Qwen2_5_VLProcessor": "Qwen2VLVideoProcessor",
    "Qwen3VLProcessor": "Qwen3VLVideoProcessor",
}


def video_settings(image: dict, video_type: str) -> dict:
    """The saved video processor's settings: the image processor's (`image`, its `to_dict()`) under `video_type`.

    Written from the image processor's dict rather than by the library's video processor class, because that class
    imports torchvision, which vrft does not need; the Qwen video processors take the same keys (patch, merge and
    temporal patch sizes, mean and std, pixel bounds) and fill the video-only ones (fps, frame counts) with their
    own defaults when loaded. So a video is resized within the image pixel bounds vrft trained with.
    """
    out = {k: v for k, v in image.items() if k != "image_processor_type"}
    return out | {"video_processor_type": video_type}


_NAMES = {"Qwen2VLProcessor": "qwen2_vl", "Qwen2_5_VLProcessor": "qwen2_5_vl", "Qwen3VLProcessor": "qwen3_vl"}


def __getattr__(name: str) -> type:
    """`vrft.models.processor.Qwen2VLProcessor` etc. resolve lazily (so processors pickle and unpickle)."""
    if name in _NAMES:
        return processor_class(_NAMES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def load_processor(
    path, *, min_pixels: int | None = None, max_pixels: int | None = None, family: str | None = None
):
    """Load the processor of a local folder or hub id, then set its min/max pixels when given.

    The family comes from the folder's config.json `model_type` unless given.
    """
    local = Path(path).expanduser()
    if local.is_dir():
        _check_files(local)
    family = family or _family_of(str(path))
    try:
        # the PIL image processor, pinned: with torchvision installed transformers picks its torchvision twin,
        # whose resize gives other pixel values
        processor = processor_class(family).from_pretrained(str(path), backend="pil")
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: cannot load the processor: {str(err).splitlines()[0]}") from err
    set_pixel_bounds(processor, min_pixels=min_pixels, max_pixels=max_pixels)
    return processor


def _check_files(folder: Path) -> None:
    missing = []
    if not (folder / "preprocessor_config.json").is_file() and not _has_image_processor(folder):
        missing.append("preprocessor_config.json (or processor_config.json with an image_processor)")
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        missing.append("tokenizer (" + " or ".join(_TOKENIZER_FILES) + ")")
    if missing:
        raise ModelError(
            f"{folder} has no preprocessor_config.json / tokenizer: missing {', '.join(missing)}; point model.path at "
            "a folder saved with processor.save_pretrained (a Hugging Face Qwen-VL checkpoint)"
        )


def _has_image_processor(folder: Path) -> bool:
    path = folder / "processor_config.json"
    try:
        return path.is_file() and "image_processor" in json.loads(path.read_text())
    except json.JSONDecodeError:
        return False


def _family_of(path: str) -> str:
    from transformers.utils import cached_file

    try:
        config = cached_file(path, "config.json")
    except OSError as err:
        raise ModelError(
            f"{path}: no config.json to tell the model family ({str(err).splitlines()[0]})"
        ) from err
    return json.loads(Path(config).read_text()).get("model_type", "")


def set_pixel_bounds(processor, *, min_pixels: int | None = None, max_pixels: int | None = None) -> None:
    """Set the image processor's resize bounds (total pixels) in place; `None` keeps the current value."""
    from transformers.image_utils import SizeDict

    size = processor.image_processor.size
    low = size.shortest_edge if min_pixels is None else int(min_pixels)
    high = size.longest_edge if max_pixels is None else int(max_pixels)
    if not 0 < low <= high:
        raise ModelError(
            f"pixel bounds min_pixels={low}, max_pixels={high}: need 0 < min_pixels <= max_pixels"
        )
    processor.image_processor.size = SizeDict(shortest_edge=low, longest_edge=high)


def pixel_bounds(processor) -> tuple[int, int]:
    """(min_pixels, max_pixels) the image processor resizes within."""
    size = processor.image_processor.size
    return int(size.shortest_edge), int(size.longest_edge)
