"""Prompts match the paper's text, codecs round-trip and follow the processor's resize, rows parse back."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil, smart_resize

from vrft.data.prompts import PROMPTS
from vrft.data.records import ClassificationRecord, DetectionRecord, GroundingRecord
from vrft.data.rows import sft_target, to_row
from vrft.errors import ConfigError
from vrft.models.codec import CODECS, Norm1000Codec, ResizedPixelCodec, codec_for, get_codec
from vrft.registry import RegistryError
from vrft.rewards.parse import extract_answer, parse_detection, parse_grounding

# Spec section 2.2 / 2.3 / 2.4, with each "\n" marker as one newline character.
SPEC_DETECTION_DOG = (
    "Detect all objects belonging to the category 'dog' in the image, and provide the bounding boxes (between 0 "
    "and 1000, integer) and confidence (between 0 and 1, with two decimal places).\n"
    "If no object belonging to the category 'dog' in the image, return 'No Objects'.\n"
    "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.The output "
    "answer format should be as follows:\n"
    "<think> ... </think> <answer>[{'Position': [x1, y1, x2, y2], 'Confidence': number}, ...]</answer>\n"
    "Please strictly follow the format."
)
SPEC_CLS_TAIL = (
    "\nOutput the thinking process in <think> </think> and final answer in <answer> </answer> tags.The output "
    "answer format should be as follows:\n<think> ... </think> <answer>species name</answer>\n"
    "Please strictly follow the format."
)
SPEC_LISA = (
    "Output the bounding box in the image corresponding to the instruction: the red cup. Output the thinking "
    'process in <think> </think> and your grouding box. Following "<think> thinking process </think>\n'
    '<answer>(x1,y1),(x2,y2)</answer>)" format.'
)


def test_detection_prompt_is_the_paper_text():
    assert PROMPTS.get("detection")(category="dog") == SPEC_DETECTION_DOG


@pytest.mark.parametrize(
    "name, opening",
    [
        (
            "flowers",
            "This is an image containing a plant. Please identify the species of the plant based on the image.",
        ),
        (
            "aircraft",
            "This is an image containing an aircraft. Please identify the model of the aircraft based on the image.",
        ),
        (
            "cars",
            "This is an image containing a car. Please identify the model of the car based on the image.",
        ),
        (
            "pets",
            "This is an image containing a pet. Please identify the species of the pet based on the image.",
        ),
    ],
)
def test_classification_prompts_are_the_paper_text(name, opening):
    assert PROMPTS.get(f"classification_{name}")() == opening + SPEC_CLS_TAIL


def test_lisa_prompt_is_the_paper_text():
    assert PROMPTS.get("lisa_grounding")(instruction="the red cup.") == SPEC_LISA


@pytest.mark.parametrize(
    "name, fields, must_contain",
    [
        (
            "detection_short",
            {"category": "cat"},
            ["'cat'", "'Position'", "No Objects", "<think>", "<answer>"],
        ),
        ("classification_short", {}, ["<think>", "<answer>"]),
        ("grounding_short", {"instruction": "the cat"}, ["the cat", "(x1,y1),(x2,y2)", "<answer>"]),
    ],
)
def test_short_prompts_keep_the_answer_format(name, fields, must_contain):
    fn = PROMPTS.get(name)
    assert fn.__doc__
    text = fn(**fields)
    assert len(text) < len(SPEC_DETECTION_DOG)
    for piece in must_contain:
        assert piece in text


def test_unknown_prompt_lists_valid_names():
    with pytest.raises(RegistryError, match="detection_short"):
        PROMPTS.get("detect")


# ---- codecs ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "box, w, h",
    [((0, 0, 640, 425), 640, 425), ((193.28, 0, 441.6, 340), 640, 425), ((1.5, 2.7, 99.9, 50.1), 100, 60)],
)
def test_qwen2_vl_encodes_like_gen_sft_and_decodes_like_trans_bbox(box, w, h):
    codec = get_codec("qwen2_vl", min_pixels=3136, max_pixels=401408)
    enc = codec.encode(box, w, h)
    assert enc == [
        int(box[0] / w * 1000),
        int(box[1] / h * 1000),
        int(box[2] / w * 1000),
        int(box[3] / h * 1000),
    ]
    assert codec.decode(enc, w, h) == pytest.approx(
        [enc[0] / 1000 * w, enc[1] / 1000 * h, enc[2] / 1000 * w, enc[3] / 1000 * h]
    )


sizes = st.tuples(st.integers(28, 3000), st.integers(28, 3000)).filter(lambda s: max(s) / min(s) < 50)


@st.composite
def image_and_box(draw):
    w, h = draw(sizes)
    xs = sorted(draw(st.floats(0, w)) for _ in range(2))
    ys = sorted(draw(st.floats(0, h)) for _ in range(2))
    return w, h, (xs[0], ys[0], xs[1], ys[1])


@settings(max_examples=200, deadline=None)
@given(image_and_box(), st.sampled_from(["qwen2_vl", "qwen2_5_vl", "qwen3_vl"]))
def test_round_trip_within_one_unit(sample, model_type):
    w, h, box = sample
    codec = get_codec(model_type, min_pixels=56 * 56, max_pixels=401408)
    enc = codec.encode(box, w, h)
    assert all(isinstance(v, int) for v in enc)
    mw, mh = codec.resized(w, h) if isinstance(codec, ResizedPixelCodec) else (1000, 1000)
    ux, uy = w / mw, h / mh  # one unit of the model's space, in original pixels
    assert all(0 <= v <= (mw if i % 2 == 0 else mh) for i, v in enumerate(enc))
    dec = codec.decode(enc, w, h)
    for i, (a, b) in enumerate(zip(dec, box, strict=True)):
        assert abs(a - b) <= (ux if i % 2 == 0 else uy) + 1e-9


@pytest.mark.parametrize("w, h", [(640, 425), (1920, 1080), (50, 900), (3000, 2000)])
@pytest.mark.parametrize("min_pixels, max_pixels", [(3136, 200704), (3136, 401408), (200704, 1003520)])
def test_resized_codec_matches_the_image_processor(w, h, min_pixels, max_pixels):
    proc = Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)
    _, gh, gw = proc(images=[Image.new("RGB", (w, h))], return_tensors="np")["image_grid_thw"][0]
    codec = codec_for(SimpleNamespace(model_type="qwen2_5_vl"), proc)
    assert codec.resized(w, h) == (gw * proc.patch_size, gh * proc.patch_size)
    assert codec.resized(w, h)[::-1] == smart_resize(
        h, w, factor=28, min_pixels=min_pixels, max_pixels=max_pixels
    )
    # the image's far corner maps to the resized image's far corner
    assert codec.encode((0, 0, w, h), w, h) == [0, 0, *codec.resized(w, h)]


def test_codec_factor_follows_patch_and_merge_size():
    proc = Qwen2VLImageProcessorPil(patch_size=16, min_pixels=3136, max_pixels=401408)
    codec = codec_for(SimpleNamespace(model_type="qwen2_5_vl"), proc)
    assert codec.factor == 32 and all(v % 32 == 0 for v in codec.resized(640, 425))
    assert isinstance(codec_for(SimpleNamespace(model_type="qwen2_vl"), proc), Norm1000Codec)


@pytest.mark.parametrize("min_pixels, max_pixels", [(4096, 524288), (65536, 16777216), (4096, 50176)])
def test_qwen3_vl_boxes_are_0_1000_of_the_original_image_whatever_the_resize(min_pixels, max_pixels):
    """Qwen3-VL cookbooks/2d_grounding.ipynb: relative coordinates 0..1000, drawn as bbox_2d[i] / 1000 * width; the
    processor's 32-px resize (16-px patches, 2x2 merge) plays no part, unlike Qwen2.5-VL's resized pixels."""
    proc = Qwen2VLImageProcessorPil(patch_size=16, merge_size=2, min_pixels=min_pixels, max_pixels=max_pixels)
    codec = codec_for(SimpleNamespace(model_type="qwen3_vl"), proc)
    assert isinstance(codec, Norm1000Codec)
    w, h, box = 640, 425, (193.28, 0.0, 441.6, 340.0)
    enc = codec.encode(box, w, h)
    assert (
        enc
        == [int(box[0] / w * 1000), 0, int(box[2] / w * 1000), int(box[3] / h * 1000)]
        == [302, 0, 690, 800]
    )
    cookbook = [enc[0] / 1000 * w, enc[1] / 1000 * h, enc[2] / 1000 * w, enc[3] / 1000 * h]
    assert codec.decode(enc, w, h) == pytest.approx(cookbook)
    assert codec.encode((0, 0, w, h), w, h) == [0, 0, 1000, 1000]
    pixels = codec_for(SimpleNamespace(model_type="qwen2_5_vl"), proc)
    assert pixels.encode((0, 0, w, h), w, h) != [
        0,
        0,
        1000,
        1000,
    ]  # the other convention differs on this image


def test_unknown_model_type_names_the_known_ones():
    with pytest.raises(ConfigError) as err:
        get_codec("llava_next", min_pixels=3136, max_pixels=401408)
    for name in CODECS:
        assert name in str(err.value)
    assert "llava_next" in str(err.value)


# ---- rows --------------------------------------------------------------------------------------------------

CODECS_UNDER_TEST = [
    get_codec("qwen2_vl", min_pixels=3136, max_pixels=401408),
    get_codec("qwen2_5_vl", min_pixels=3136, max_pixels=200704),
]


@pytest.mark.parametrize("codec", CODECS_UNDER_TEST, ids=lambda c: c.name)
def test_detection_row_parses_back_to_the_encoded_boxes(codec):
    boxes = ((10.0, 20.0, 200.5, 300.0), (300.0, 5.0, 639.0, 424.0))
    rec = DetectionRecord(
        image="a.jpg", image_id=7, width=640, height=425, category_id=18, category="dog", boxes=boxes
    )
    row = to_row(rec, "detection", codec)
    assert row["problem"] == SPEC_DETECTION_DOG and row["kind"] == "detection" and row["image"] == "a.jpg"
    assert row["solution"].startswith("<answer>[{'Position': [")
    parsed = parse_detection(extract_answer(row["solution"]))
    assert parsed.ok and not parsed.no_objects
    assert [list(b.position) for b in parsed.boxes] == [codec.encode(b, 640, 425) for b in boxes]
    assert [b.confidence for b in parsed.boxes] == [1.0, 1.0]
    assert row["meta"] == {"image_id": 7, "category": "dog", "category_id": 18, "width": 640, "height": 425}


def test_detection_row_without_boxes_says_no_objects():
    rec = DetectionRecord(image="a.jpg", image_id=1, width=10, height=10, category_id=1, category="cat")
    row = to_row(rec, "detection_short", CODECS_UNDER_TEST[0])
    assert row["solution"] == "<answer>No Objects</answer>"
    assert parse_detection(extract_answer(row["solution"])).no_objects


@pytest.mark.parametrize("codec", CODECS_UNDER_TEST, ids=lambda c: c.name)
def test_grounding_row_parses_back_to_the_encoded_box(codec):
    rec = GroundingRecord(
        image="b.jpg",
        image_id="x1",
        width=800,
        height=600,
        instruction="the red cup.",
        box=(12.3, 40.0, 500.0, 590.9),
    )
    row = to_row(rec, "lisa_grounding", codec)
    assert row["problem"] == SPEC_LISA and row["kind"] == "grounding"
    assert list(parse_grounding(extract_answer(row["solution"]))) == codec.encode(rec.box, 800, 600)
    assert row["meta"]["box_abs"] == list(rec.box)


def test_classification_row_and_prompt_fields():
    rec = ClassificationRecord(image="c.jpg", label="garden phlox", label_id=3, image_id="i3")
    row = to_row(rec, "classification_flowers", CODECS_UNDER_TEST[0])
    assert row["solution"] == "<answer>garden phlox</answer>" and row["kind"] == "classification"
    assert row["meta"] == {"image_id": "i3", "label": "garden phlox", "label_id": 3}
    generic = to_row(
        rec, "classification", CODECS_UNDER_TEST[0], prompt_fields={"noun": "a plant", "attribute": "species"}
    )
    assert generic["problem"] == row["problem"]
    short = to_row(rec, "classification_short", CODECS_UNDER_TEST[0], prompt_fields={"noun": "flower"})
    assert "flower" in short["problem"]


def test_prompt_with_wrong_fields_is_a_config_error():
    rec = ClassificationRecord(image="c.jpg", label="rose")
    with pytest.raises(ConfigError, match="classification"):
        to_row(rec, "classification", CODECS_UNDER_TEST[0])  # noun and attribute missing
    det = DetectionRecord(image="a.jpg", image_id=1, width=10, height=10, category_id=1, category="cat")
    with pytest.raises(ConfigError, match="lisa_grounding"):
        to_row(det, "lisa_grounding", CODECS_UNDER_TEST[0])


def test_sft_target_answer_only_or_with_thought():
    rec = ClassificationRecord(image="c.jpg", label="rose")
    row = to_row(rec, "classification_flowers", CODECS_UNDER_TEST[0])
    assert sft_target(row) == "<answer>rose</answer>"
    with_think = sft_target(row, thought=True)
    assert with_think.startswith("<think>") and with_think.endswith(row["solution"])
    assert extract_answer(with_think) == "rose"
