"""Qwen3.5: the tiny model is transformers' own class with the real hybrid layer pattern, its prompts are rendered
with thinking mode off, its boxes use the 0..1000 codec, the shared prefill repeats the hybrid cache's conv and
recurrent states per completion, and the paths that hold keys and values only (kept prefill, lean decode step) step
aside for it. The four real sizes compose. CPU, offline; equalities with `generate` and the plain forward are in
tests/test_speed_equivalence.py."""

from __future__ import annotations

import copy
import pickle
from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from transformers.cache_utils import DynamicLayer, LinearAttentionLayer

from tests.conftest import compose_run
from vrft.data.collate import PromptCollator, chat_text
from vrft.models import TINY_QWEN3_5, LoraSpec, ModelSpec, apply_lora, load_model, model_family, pixel_bounds
from vrft.models.codec import Norm1000Codec, codec_for
from vrft.rollout.hf import HFRollout
from vrft.rollout.lean_step import LeanStep
from vrft.rollout.prefill import plain_kv, prefill, repeat_cache
from vrft.rollout.sampling import generation_tokens
from vrft.rollout.spec import RolloutSpec, SamplingSpec

torch.set_num_threads(2)
G = 3


@pytest.fixture(scope="module")
def tiny(cache_dir):
    spec = ModelSpec(name="t35", family="qwen3_5", min_pixels=4096, max_pixels=50176, tiny=TINY_QWEN3_5)
    model, processor = load_model(spec, cache_dir)
    rows = [
        {"image": Image.new("RGB", (w, 64), (200, 40, 40)), "problem": p}
        for w, p in [(128, "Box the red square."), (64, "Where?")]
    ]
    return model, processor, PromptCollator(processor)(rows)["inputs"]


def test_tiny_qwen3_5_is_the_real_class_with_the_hybrid_layer_pattern(tiny):
    model, processor, _ = tiny
    assert model_family(model) == "qwen3_5" and type(model).__name__ == "Qwen3_5ForConditionalGeneration"
    text = model.config.text_config
    assert text.layer_types == ["linear_attention"] * 3 + ["full_attention"]
    assert [
        type(layer.linear_attn if t == "linear_attention" else layer.self_attn).__name__
        for layer, t in zip(model.model.language_model.layers, text.layer_types, strict=True)
    ] == ["Qwen3_5GatedDeltaNet"] * 3 + ["Qwen3_5Attention"]
    assert text.rope_parameters["mrope_interleaved"] and text.rope_parameters["partial_rotary_factor"] == 0.25
    assert sum(text.rope_parameters["mrope_section"]) * 2 == int(text.head_dim * 0.25)
    assert type(processor).__name__ == "Qwen3VLProcessor" and pixel_bounds(processor) == (4096, 50176)
    assert type(pickle.loads(pickle.dumps(processor))).__name__ == "Qwen3VLProcessor"
    assert model.config.vision_config.patch_size == 16 and model.config.vision_config.spatial_merge_size == 2


def test_thinking_mode_is_off_in_the_prompts_vrft_renders(tiny):
    """Qwen3.5's template opens "<think>\\n" by default; vrft renders every prompt with enable_thinking=False, so the
    prompt closes an empty think block and the completion carries its own <think>/<answer> tags."""
    processor = tiny[1]
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Box it."}]}]
    default = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert default.endswith("<|im_start|>assistant\n<think>\n")
    assert chat_text(processor, "Box it.").endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


def test_qwen3_5_boxes_are_0_1000_of_the_original_image(tiny):
    codec = codec_for(SimpleNamespace(model_type="qwen3_5"), tiny[1].image_processor)
    assert isinstance(codec, Norm1000Codec)
    assert codec.encode([64, 16, 128, 48], 128, 64) == [500, 250, 1000, 750]


def test_repeat_cache_copies_conv_and_recurrent_states_per_completion(tiny):
    """Every row of the B-row hybrid cache becomes G rows: keys and values, conv and recurrent states alike."""
    model, _, inputs = tiny
    with torch.no_grad():
        _, cache, _ = prefill(model, inputs, G, repeat=False)
    model.model.rope_deltas = None
    kinds = [type(layer) for layer in cache.layers]
    assert kinds == [LinearAttentionLayer] * 3 + [DynamicLayer] and not plain_kv(cache)
    before = [
        (dict(layer.conv_states), dict(layer.recurrent_states))
        if isinstance(layer, LinearAttentionLayer)
        else ({0: layer.keys}, {0: layer.values})
        for layer in cache.layers
    ]
    repeat_cache(cache, G)
    for layer, (a, b) in zip(cache.layers, before, strict=True):
        pairs = (
            ((layer.conv_states, a), (layer.recurrent_states, b))
            if isinstance(layer, LinearAttentionLayer)
            else (({0: layer.keys}, a), ({0: layer.values}, b))
        )
        for now, then in pairs:
            assert now[0].shape[0] == G * then[0].shape[0]
            assert torch.equal(now[0], then[0].repeat_interleave(G, dim=0))


def test_hybrid_cache_keeps_no_prefill_and_takes_no_lean_step(tiny, monkeypatch):
    """The kept prefill and the lean decode step hold keys and values only: a Qwen3.5 rollout keeps nothing for
    the policy pass (it prefills again) and decodes by `generate` on the repeated cache."""
    model, processor, inputs = tiny
    built = []
    real = LeanStep.build.__func__

    def spy(cls, *args, **kwargs):
        step = real(cls, *args, **kwargs)
        built.append(step)
        return step

    monkeypatch.setattr(LeanStep, "build", classmethod(spy))
    hf = HFRollout(
        RolloutSpec(sampling=SamplingSpec(max_new_tokens=6), keep_prefill=True, compile_decode=False),
        generation_tokens(model, processor.tokenizer),
    )
    model.train()
    r, kept = hf.sample(model, inputs, G, keep_prefill=True)
    model.eval()
    assert kept is None and built == [None]
    assert r.completion_ids.shape[0] == G * inputs["input_ids"].shape[0]


def test_qwen3_5_lora_reaches_its_linear_attention_layers(tiny):
    lora = LoraSpec(
        enabled=True, r=2, alpha=4, dropout=0.0, target_modules=("q_proj", "in_proj_qkv", "out_proj")
    )
    policy = apply_lora(copy.deepcopy(tiny[0]), lora)
    adapted = {n for n, _ in policy.named_parameters() if "lora_A" in n}
    assert any(".linear_attn.in_proj_qkv." in n for n in adapted)
    assert any(".self_attn.q_proj." in n for n in adapted)
    assert not any(".visual." in n for n in adapted)


@pytest.mark.parametrize("size", ["0_8b", "2b", "4b", "9b"])
def test_the_real_sizes_compose(size, tmp_path, cache_dir):
    cfg = compose_run([f"model=qwen3_5_{size}"], tmp_path, cache_dir)
    hub = {"0_8b": "0.8B", "2b": "2B", "4b": "4B", "9b": "9B"}[size]
    assert cfg.model.family == "qwen3_5" and cfg.model.path == f"Qwen/Qwen3.5-{hub}"
    assert (cfg.model.min_pixels, cfg.model.max_pixels) == (4096, 524288)


class _Recorder:
    """A processor stand-in that records the keywords its chat template is rendered with."""

    def __init__(self, template: str):
        self.chat_template = template

    def apply_chat_template(self, messages, **kw):
        self.kw = kw
        return "prompt"


def test_the_thinking_switch_goes_only_to_templates_that_read_it():
    """A template without `enable_thinking` (Qwen2-VL .. Qwen3-VL) is not given it: transformers would hand the
    unknown keyword to the processor with a warning at every prompt."""
    plain, thinking = _Recorder("{{ messages }}"), _Recorder("{% if enable_thinking %}<think>{% endif %}")
    chat_text(plain, "Box it.")
    chat_text(thinking, "Box it.")
    assert "enable_thinking" not in plain.kw
    assert thinking.kw["enable_thinking"] is False
