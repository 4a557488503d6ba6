"""Load a policy model and its processor from a local folder, a hub id, or a tiny model built locally.

`ModelSpec` (vrft.models.spec) says which model; `resolve_path` turns it into a folder or hub id (building the tiny
model first when the spec has no path); `load_model` loads through `AutoModelForImageTextToText` and `load_processor`, the same path for a
tiny model and a real checkpoint. A missing folder raises `ModelError` saying where it looked. A hub id is looked up
in the local Hugging Face cache first; one that is not there is downloaded on first use only when the hub answers
one metadata request (a few seconds at most, no retries), else `ModelError` names the hub id, the cache folder
searched and the `hf download` command (transformers' own download retries for about a minute before an error that
names neither).

Left out: the reference model (a second `load_model`, or the LoRA policy with its adapter disabled), LoRA itself
(vrft.models.lora), device placement and distributed wrapping (the trainer's job).
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from vrft.errors import ConfigError, ModelError
from vrft.models.processor import load_processor
from vrft.models.spec import ModelSpec
from vrft.models.tiny import build_tiny

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def resolve_path(spec: ModelSpec, cache_dir: Path) -> Path | str:
    """The folder to load (built under `cache_dir` for a tiny spec), or the hub id to load from the HF cache."""
    if spec.path is None:
        if spec.tiny is None:
            raise ConfigError(f"model.path is unset for model {spec.name}: set a local folder or hub id")
        tiny = dataclasses.replace(spec.tiny, min_pixels=spec.min_pixels, max_pixels=spec.max_pixels)
        return build_tiny(tiny, Path(cache_dir))
    return check_available(spec)


def check_available(spec: ModelSpec) -> Path | str:
    """The folder or hub id `spec.path` names, once it is known to be there (nothing is loaded): a folder with a
    config.json, or a hub id in the local HF cache or downloadable now; else `ModelError`."""
    if spec.path is None:
        raise ConfigError(f"model.path is unset for model {spec.name}: set a local folder or hub id")
    local = Path(spec.path).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise ModelError(f"model.path={spec.path}: {local.resolve()} has no config.json; {_FIX}")
        return local
    if not _looks_like_hub_id(spec.path):
        raise ModelError(f"model.path={spec.path}: no such folder (looked at {local.resolve()}); {_FIX}")
    _check_hub_cache(spec.path)
    return spec.path


_FIX = "set model.path=/local/folder (a saved Hugging Face checkpoint) or a hub id with network access (HF_HUB_OFFLINE=0)"


def _looks_like_hub_id(path: str) -> bool:
    return bool(_HUB_ID.match(path)) and not path.startswith((".", "~")) and path.count("/") == 1


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


HUB_TIMEOUT_S = 10.0  # the one metadata request that decides whether an uncached hub id can be downloaded


def _check_hub_cache(repo_id: str) -> None:
    """A hub id must be in the local HF cache, or (online) the hub must answer for it; else one clear ModelError."""
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
        return
    offline = _offline()
    why = "HF_HUB_OFFLINE=1" if offline else hub_unreachable(repo_id)
    if why is None:
        return  # the hub answers: transformers downloads it into the cache on first use
    online = " (or set HF_HUB_OFFLINE=0 where the hub can be reached)" if offline else ""
    raise ModelError(
        f"model.path={repo_id}: not a local folder, and the hub id is not in the Hugging Face cache "
        f"{constants.HF_HUB_CACHE} and cannot be downloaded now ({why}); download it first with "
        f"`hf download {repo_id}`{online} (HF_HOME picks the cache folder), or set model.path=/local/folder "
        "(a saved Hugging Face checkpoint)"
    )


def hub_unreachable(repo_id: str, timeout: float = HUB_TIMEOUT_S, endpoint: str | None = None) -> str | None:
    """None when the hub (`endpoint`, default HF_ENDPOINT's) answers for `repo_id`'s config.json (one request, no
    retries), else why not, in a few words."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        get_hf_file_metadata(hf_hub_url(repo_id, "config.json", endpoint=endpoint), timeout=timeout)
    except GatedRepoError:
        return "the model is gated: accept its terms on the hub and log in with `hf auth login`"
    except RepositoryNotFoundError:
        return "the hub has no such model, or it is private (log in with `hf auth login`)"
    except Exception as err:  # no network, DNS, proxy, timeout: any of them means no download now
        return f"the hub cannot be reached: {type(err).__name__}: {str(err).splitlines()[0][:120]}"
    return None


def load_model(spec: ModelSpec, cache_dir: Path):
    """(model, processor) for `spec`; the model is in eval mode, in `spec.dtype`, on the CPU."""
    import torch
    from transformers import AutoModelForImageTextToText

    path = resolve_path(spec, cache_dir)
    try:
        model = AutoModelForImageTextToText.from_pretrained(
            str(path), dtype=getattr(torch, spec.dtype), attn_implementation=spec.attn_implementation
        )
    except (OSError, ValueError, ImportError) as err:
        raise ModelError(
            f"model.path={path}: cannot load the model: {str(err).splitlines()[0]}; {_FIX}"
        ) from err
    family = model_family(model)
    if family != spec.family:
        raise ModelError(
            f"model.family={spec.family} but {path} holds a {family} model; set model.family={family}"
        )
    processor = load_processor(path, min_pixels=spec.min_pixels, max_pixels=spec.max_pixels, family=family)
    model.eval()
    return model, processor


def model_family(model) -> str:
    """The family from `model.config.model_type` ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_5"), through PEFT too."""
    config = getattr(model, "config", None)
    if config is None and hasattr(model, "get_base_model"):
        config = model.get_base_model().config
    return str(config.model_type)
