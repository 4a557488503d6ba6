"""`final_model/` is a complete transformers checkpoint for every model family vrft supports.

Each family's tiny model is saved the way a run saves it (`save_final`); its `processor_config.json` must hold the
family's video processor with the image processor's settings (transformers 5's Qwen-VL processors refuse to load
without one), vrft's own loader must still load it, and, where transformers' video processors can load (they import
torchvision), `AutoProcessor` and `pipeline("image-text-to-text")` load the folder and generate. Where this
environment has no torchvision (the pinned CPU torch has none on PyPI), those tests run in the second environment
`make consumer-env` builds (`.venv-consumer`: torch + torchvision + this package), as a user's would be: the folders
are saved here, under the project's pinned torch, and loaded there, under the user's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

FAMILIES = {  # conf/model tiny config -> the video processor transformers pairs with its processor
    "tiny_qwen2_vl": "Qwen2VLVideoProcessor",
    "tiny_qwen2_5_vl": "Qwen2VLVideoProcessor",
    "tiny_qwen3_vl": "Qwen3VLVideoProcessor",
    "tiny_qwen3_5": "Qwen3VLVideoProcessor",
}
SHARED = ("patch_size", "temporal_patch_size", "merge_size", "image_mean", "image_std", "size")
NO_TORCHVISION = "transformers' Qwen-VL video processors import torchvision, which is not installed here"
HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None
CONSUMER = ROOT / ".venv-consumer" / "bin" / "python"
CONSUMER_READY = ROOT / ".venv-consumer" / ".installed"  # written by `make consumer-env` once it is complete
TORCHVISION_TESTS = (
    "test_final_model_loads_and_generates_with_transformers",
    "test_vrft_loader_keeps_the_pil_image_processor_when_torchvision_is_installed",
)


EXPORTED = "VRFT_TEST_EXPORTED"  # set: the folders were saved by another environment, under <it>/<family>/
LOADED = "loaded.txt"  # <EXPORTED>/loaded.txt: one line per family whose saved folder a test here loaded


def save_family(name: str, out, cache_dir):
    """The `final_model/` folder `save_final` writes for family `name`'s tiny model, under `out`."""
    from tests.conftest import compose_run
    from vrft.checkpointing.disk import save_final
    from vrft.models.loader import load_model

    out.mkdir(parents=True, exist_ok=True)
    cfg = compose_run([f"model={name}"], out, cache_dir)
    model, processor = load_model(cfg.model, cache_dir)
    save_final(model, processor, out / "final_model", "")
    return out / "final_model"


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def final_model(request, cache_dir, tmp_path_factory):
    """(model config name, its `final_model/` folder): saved here, or with VRFT_TEST_EXPORTED the one another
    environment saved (missing: the test fails; each use is recorded in its loaded.txt)."""
    exported = os.environ.get(EXPORTED)
    if not exported:
        return request.param, save_family(request.param, tmp_path_factory.mktemp(request.param), cache_dir)
    folder = Path(exported) / request.param / "final_model"
    if not (folder / "config.json").exists():
        pytest.fail(f"{EXPORTED}={exported}: no saved {request.param} folder {folder}")
    with open(Path(exported) / LOADED, "a", encoding="utf-8") as log:
        log.write(request.param + "\n")
    return request.param, folder


def test_final_model_saves_the_family_video_processor(final_model):
    name, folder = final_model
    saved = json.loads((folder / "processor_config.json").read_text())
    video, image = saved.get("video_processor"), saved["image_processor"]
    assert video is not None, f"{name}: processor_config.json has no video_processor: {sorted(saved)}"
    assert video["video_processor_type"] == FAMILIES[name]
    assert {k: video[k] for k in SHARED} == {k: image[k] for k in SHARED}


def test_final_model_loads_with_vrft_loader(final_model):
    from vrft.models.processor import load_processor

    name, folder = final_model
    processor = load_processor(folder)
    assert processor.image_processor.size.longest_edge > 0 and processor.tokenizer is not None, name


@pytest.mark.skipif(not HAS_TORCHVISION, reason=NO_TORCHVISION)
def test_final_model_loads_and_generates_with_transformers(final_model):
    from PIL import Image
    from transformers import AutoProcessor, pipeline

    name, folder = final_model
    processor = AutoProcessor.from_pretrained(folder)
    assert type(processor).__module__.startswith("transformers."), type(processor)
    assert type(processor.video_processor).__name__ == FAMILIES[name]
    pipe = pipeline("image-text-to-text", model=str(folder), device="cpu")
    image = Image.new("RGB", (64, 64), (200, 40, 40))
    messages = [
        {"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "What?"}]}
    ]
    out = pipe(text=messages, max_new_tokens=3, min_new_tokens=3, return_full_text=False)
    assert isinstance(out[0]["generated_text"], str), out


@pytest.mark.skipif(not HAS_TORCHVISION, reason=NO_TORCHVISION)
def test_vrft_loader_keeps_the_pil_image_processor_when_torchvision_is_installed(final_model):
    """transformers prefers the torchvision image processor once torchvision is importable; its resize gives other
    pixel values than the PIL one vrft's results were measured with."""
    from vrft.models.processor import load_processor

    assert type(load_processor(final_model[1]).image_processor).__name__.endswith("Pil")


@pytest.mark.slow
@pytest.mark.skipif(
    HAS_TORCHVISION, reason="torchvision is importable here: the tests above ran in this process"
)
@pytest.mark.skipif(not CONSUMER_READY.exists(), reason=f"{NO_TORCHVISION}; `make consumer-env` builds one")
def test_final_model_loads_in_an_environment_with_torchvision(tmp_path, cache_dir):
    """The torchvision tests above, every family, in `.venv-consumer` on the folders saved here (the pinned torch):
    they must run there and pass, not skip, and load those folders, not their own."""
    exported = tmp_path / "exported"
    for name in FAMILIES:
        save_family(name, exported / name, cache_dir)
    ids = [f"tests/test_export.py::{name}" for name in TORCHVISION_TESTS]
    cache = tmp_path / "cache"  # a cache of its own: its torch builds other bits
    env = {**os.environ, EXPORTED: str(exported), "VRFT_TEST_CACHE": str(cache)}
    done = subprocess.run(
        [str(CONSUMER), "-m", "pytest", "-q", "-p", "no:cacheprovider", *ids],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    tail = (done.stdout + done.stderr)[-4000:]
    assert done.returncode == 0, tail
    assert f"{len(TORCHVISION_TESTS) * len(FAMILIES)} passed" in done.stdout, tail
    assert sorted((exported / LOADED).read_text().split()) == sorted(FAMILIES), tail
