"""Tiny models built locally, the loader, the processor helper and LoRA (CPU, offline, shared module fixtures)."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest
import torch
from PIL import Image

from vrft.errors import ConfigError, ModelError
from vrft.models import (
    TINY,
    TINY_QWEN2_5_VL,
    TINY_QWEN3_VL,
    LoraSpec,
    ModelSpec,
    apply_lora,
    build_tiny,
    count_parameters,
    freeze_vision_tower,
    integer_tokens,
    invalid_token_ids,
    load_model,
    load_processor,
    model_family,
    pixel_bounds,
    resolve_path,
)
from vrft.models import tiny as tiny_module
from vrft.models.lora import VISION_TARGETS, is_vision_parameter

torch.set_num_threads(2)
MESSAGES = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]}]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def tiny(cache):
    spec = ModelSpec(name="tiny", family="qwen2_vl", min_pixels=3136, max_pixels=50176, tiny=TINY)
    model, processor = load_model(spec, cache)
    return spec, model, processor


def _inputs(processor, sizes=((224, 224),)):
    text = processor.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    images = [Image.new("RGB", size, (40 * i, 90, 200)) for i, size in enumerate(sizes)]
    return processor(text=[text] * len(images), images=images, padding=True, return_tensors="pt")


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_reload_gives_the_weights_that_were_built(tiny, cache):
    spec, model, processor = tiny
    fresh = tiny_module.init_model(TINY, tiny_module.build_tokenizer(TINY))
    built, loaded = fresh.state_dict(), model.state_dict()
    assert built.keys() == loaded.keys()
    assert all(torch.equal(built[k], loaded[k]) for k in built)
    assert model_family(model) == "qwen2_vl"
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"


def test_same_seed_same_bytes_other_seed_other_folder(tmp_path, cache):
    first = build_tiny(TINY, cache)
    second = build_tiny(TINY, tmp_path / "elsewhere")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    reseeded = build_tiny(dataclasses.replace(TINY, seed=1), cache)
    assert reseeded != first and reseeded.parent == first.parent
    assert (reseeded / "model.safetensors").read_bytes() != (first / "model.safetensors").read_bytes()


def test_second_call_reuses_the_folder(cache, monkeypatch):
    first = build_tiny(TINY, cache)
    stamp = (first / "model.safetensors").stat().st_mtime_ns

    def no_rebuild(*_):
        raise AssertionError("rebuilt a cached model")

    monkeypatch.setattr(tiny_module, "_build_into", no_rebuild)
    assert build_tiny(TINY, cache) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    with pytest.raises(AssertionError, match="rebuilt"):
        build_tiny(dataclasses.replace(TINY, hidden_size=32, num_heads=2, num_kv_heads=1), cache)
    assert not [p for p in cache.iterdir() if p.name.startswith(".")], "a temp folder was left behind"


def test_chat_template_inserts_the_default_system_turn(tiny):
    text = tiny[2].apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>What is it?<|im_end|>\n<|im_start|>assistant\n"
    )


@pytest.mark.parametrize(("size", "pads"), [((112, 112), 16), ((224, 224), 64), ((224, 112), 32)])
def test_image_pad_count_follows_the_image_size(tiny, size, pads):
    processor = tiny[2]
    enc = _inputs(processor, [size])
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((enc["input_ids"] == pad).sum()) == pads
    assert int(enc["image_grid_thw"].prod(-1).sum()) == pads * 4


def test_forward_with_mm_token_type_ids(tiny):
    _, model, processor = tiny
    enc = _inputs(processor, [(112, 112), (224, 224)])
    assert (
        "mm_token_type_ids" in enc and enc["input_ids"][0, 0] == processor.tokenizer.pad_token_id
    )  # left padding
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape[:2] == enc["input_ids"].shape and torch.isfinite(logits).all()
    # Qwen2.5-VL's vision MLP reuses gate_proj/up_proj/down_proj: the exclusion must still keep it adapter-free
    for include_vision in (False, True):
        lora = LoraSpec(enabled=True, r=2, alpha=4, dropout=0.0, include_vision=include_vision)
        counts = count_parameters(apply_lora(copy.deepcopy(model), lora))
        assert (counts["vision_trainable"] > 0) == include_vision


def test_sampling_avoids_invalid_ids_and_varies(tiny):
    _, model, processor = tiny
    bad = invalid_token_ids(model, processor.tokenizer)
    vocab = model.get_output_embeddings().weight.shape[0]
    assert set(range(len(processor.tokenizer), vocab)) <= set(bad)
    assert processor.tokenizer.convert_tokens_to_ids("<|image_pad|>") in bad
    enc = _inputs(processor)
    torch.manual_seed(0)
    out = model.generate(**enc, max_new_tokens=12, num_return_sequences=4, suppress_tokens=bad)
    new = out[:, enc["input_ids"].shape[1] :]
    assert not set(new.flatten().tolist()) & set(bad)
    texts = processor.batch_decode(new, skip_special_tokens=True)
    assert all(isinstance(t, str) for t in texts) and len(set(texts)) > 1, texts


def test_tags_survive_decoding_special_tokens_do_not(tiny):
    tok = tiny[2].tokenizer
    text = "<|im_start|><think> a dog </think><answer>dog</answer><|im_end|><|endoftext|>"
    ids = tok(text)["input_ids"]
    for tag in ("<think>", "</think>", "<answer>", "</answer>"):
        assert tok.convert_tokens_to_ids(tag) in ids
    assert tok.decode(ids, skip_special_tokens=True) == "<think> a dog </think><answer>dog</answer>"
    assert tok.eos_token == "<|im_end|>" and tok.padding_side == "left" and tok.pad_token is not None


def test_extra_tokens_are_single_tokens(cache, tiny):
    spec = dataclasses.replace(TINY, extra_tokens=integer_tokens() + ("0.90",))
    tok = load_processor(build_tiny(spec, cache)).tokenizer
    for word in ("1000", "0", "517", "0.90"):
        assert len(tok(word)["input_ids"]) == 1, word
    assert tok.decode(tok("[12, 1000, 0.90]")["input_ids"]) == "[12, 1000, 0.90]"
    assert len(tiny[2].tokenizer("1000")["input_ids"]) > 1  # without extra tokens, digits split


def test_loader_errors_name_the_path(tmp_path, monkeypatch, tiny):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelError, match=f"{missing}.*model.path=/local/folder"):
        resolve_path(ModelSpec(name="m", path=str(missing)), tmp_path)
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text('{"model_type": "qwen2_vl"}')
    with pytest.raises(ModelError, match=f"{bare} has no preprocessor_config.json / tokenizer"):
        load_processor(bare)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="nobody-vrft/not-a-model.*HF_HUB_OFFLINE=0"):
        resolve_path(ModelSpec(name="m", path="nobody-vrft/not-a-model"), tmp_path)


def test_family_mismatch_and_bad_fields_are_refused(cache):
    folder = build_tiny(TINY, cache)
    with pytest.raises(ModelError, match="model.family=qwen2_5_vl but .* holds a qwen2_vl model"):
        load_model(ModelSpec(name="m", path=str(folder), family="qwen2_5_vl"), cache)
    with pytest.raises(ConfigError, match="model.dtype"):
        ModelSpec(name="m", path="x/y", dtype="float8")
    with pytest.raises(ConfigError, match="model.tiny.family"):
        dataclasses.replace(TINY, family="llava")


def test_processor_bounds_reload_and_pickle(tiny, cache):
    processor = tiny[2]
    assert pixel_bounds(processor) == (3136, 50176)
    assert pixel_bounds(load_processor(build_tiny(TINY, cache))) == (TINY.min_pixels, TINY.max_pixels)
    clone = pickle.loads(pickle.dumps(processor))
    assert type(clone).__name__ == "Qwen2VLProcessor" and pixel_bounds(clone) == (3136, 50176)


def _lora_size(model, r, names, vision):
    """LoRA parameters peft should add: r * (in + out) per targeted nn.Linear (a reference independent of peft)."""
    return sum(
        r * (m.in_features + m.out_features)
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Linear)
        and n.rsplit(".", 1)[-1] in names
        and is_vision_parameter(n) == vision
    )


@pytest.mark.parametrize("include_vision", [False, True])
def test_lora_trains_only_adapters(tiny, include_vision):
    base = copy.deepcopy(tiny[1])
    spec = LoraSpec(enabled=True, r=4, alpha=8, dropout=0.0, include_vision=include_vision)
    language = _lora_size(base, 4, spec.target_modules, vision=False)
    vision = _lora_size(base, 4, spec.target_modules + VISION_TARGETS, vision=True) if include_vision else 0
    counts = count_parameters(apply_lora(base, spec))
    assert counts["trainable"] == language + vision and language > 0
    assert counts["vision_trainable"] == vision and (vision > 0) == include_vision
    assert counts["total"] == count_parameters(tiny[1])["total"] + language + vision


def test_disabled_adapter_is_the_base_model(tiny):
    _, model, processor = tiny
    enc = _inputs(processor)
    with torch.no_grad():
        expected = model(**enc).logits
        policy = apply_lora(copy.deepcopy(model), LoraSpec(enabled=True, r=4, alpha=8, dropout=0.0))
        for name, param in policy.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)
        adapted = policy(**enc).logits
        with policy.disable_adapter():
            reference = policy(**enc).logits
    assert not torch.allclose(adapted, expected)
    assert torch.equal(reference, expected)
    assert model_family(policy) == "qwen2_vl"
    out = policy.generate(
        **enc, max_new_tokens=3, suppress_tokens=invalid_token_ids(model, processor.tokenizer)
    )
    assert out.shape[1] <= enc["input_ids"].shape[1] + 3


def test_freeze_vision_tower(tiny):
    model = copy.deepcopy(tiny[1])
    before = count_parameters(model)
    assert before["trainable"] == before["total"] and before["vision_trainable"] > 0
    frozen = freeze_vision_tower(model)
    after = count_parameters(model)
    assert frozen == before["vision_trainable"]
    assert after == {"total": before["total"], "trainable": before["total"] - frozen, "vision_trainable": 0}


def test_tiny_qwen2_5_vl_builds_and_runs(cache):
    spec = ModelSpec(name="t25", family="qwen2_5_vl", max_pixels=50176, tiny=TINY_QWEN2_5_VL)
    model, processor = load_model(spec, cache)
    assert (
        model_family(model) == "qwen2_5_vl" and type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    )
    enc = _inputs(processor)
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((enc["input_ids"] == pad).sum()) == 64
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape[:2] == enc["input_ids"].shape and torch.isfinite(logits).all()


@pytest.fixture(scope="module")
def tiny3(cache):
    spec = ModelSpec(name="t3", family="qwen3_vl", min_pixels=4096, max_pixels=50176, tiny=TINY_QWEN3_VL)
    model, processor = load_model(spec, cache)
    return spec, model, processor


def test_tiny_qwen3_vl_is_the_real_class_with_its_vision_layout(tiny3, cache):
    _, model, processor = tiny3
    assert model_family(model) == "qwen3_vl" and type(model).__name__ == "Qwen3VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen3VLProcessor" and pixel_bounds(processor) == (4096, 50176)
    vision, text = model.config.vision_config, model.config.text_config
    assert (vision.patch_size, vision.spatial_merge_size, vision.out_hidden_size) == (16, 2, text.hidden_size)
    assert len(model.model.visual.deepstack_merger_list) == len(vision.deepstack_visual_indexes) == 1
    assert text.rope_parameters["mrope_interleaved"] and sum(text.rope_parameters["mrope_section"]) * 2 == 16
    fresh = tiny_module.init_model(TINY_QWEN3_VL, tiny_module.build_tokenizer(TINY_QWEN3_VL))
    built, loaded = fresh.state_dict(), model.state_dict()
    assert built.keys() == loaded.keys() and all(torch.equal(built[k], loaded[k]) for k in built)
    clone = pickle.loads(pickle.dumps(processor))
    assert type(clone).__name__ == "Qwen3VLProcessor" and pixel_bounds(clone) == (4096, 50176)
    reloaded = load_processor(build_tiny(TINY_QWEN3_VL, cache))
    assert type(reloaded).__name__ == "Qwen3VLProcessor" and reloaded.image_processor.patch_size == 16


def test_qwen3_vl_chat_template_has_no_default_system_turn(tiny3):
    text = tiny3[2].apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    assert text == (
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is it?<|im_end|>\n<|im_start|>assistant\n"
    )
    system = [{"role": "system", "content": "Be brief."}, *MESSAGES]
    assert (
        tiny3[2]
        .apply_chat_template(system, tokenize=False)
        .startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    )


@pytest.mark.parametrize(("size", "pads"), [((224, 224), 49), ((128, 64), 8), ((112, 112), 16)])
def test_qwen3_vl_image_tokens_are_32_px(tiny3, size, pads):
    """16-px patches merged 2x2: one image token per 32x32 px of the resized image (112 rounds up to 128)."""
    _, model, processor = tiny3
    enc = _inputs(processor, [size])
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((enc["input_ids"] == pad).sum()) == pads
    assert int(enc["image_grid_thw"].prod(-1).sum()) == pads * 4
    assert enc["pixel_values"].shape[-1] == 3 * 2 * 16 * 16  # channels x temporal patch x 16 x 16
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape[:2] == enc["input_ids"].shape and torch.isfinite(logits).all()


def test_qwen3_vl_lora_reaches_its_vision_mlp_only_when_asked(tiny3):
    for include_vision in (False, True):
        lora = LoraSpec(enabled=True, r=2, alpha=4, dropout=0.0, include_vision=include_vision)
        policy = apply_lora(copy.deepcopy(tiny3[1]), lora)
        adapted = {n for n, _ in policy.named_parameters() if "lora_A" in n and is_vision_parameter(n)}
        assert any(".mlp.linear_fc1." in n for n in adapted) == include_vision
        assert not any("merger" in n for n in adapted)
