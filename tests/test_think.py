"""`prompt.think: on | off | after`: the format reward's layout, the prompts, SFT targets, evaluation parsing and the
config key follow it, for every task family."""

from __future__ import annotations

import inspect
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vrft.synthetic  # noqa: F401  (registers the synth_* prompts)
from vrft.data.prompts import PROMPTS
from vrft.data.records import ClassificationRecord, DetectionRecord, GroundingRecord
from vrft.data.rows import SFT_THOUGHT, sft_target, to_row
from vrft.data.tasks import build_rows
from vrft.errors import ConfigError
from vrft.evaluation.classification import classification_accuracy
from vrft.evaluation.detection import predictions_to_coco
from vrft.evaluation.grounding import grounding_metrics
from vrft.models.codec import Norm1000Codec
from vrft.rewards.format import FORMAT_PATTERNS, THINK_MODES, format_reward, format_score
from vrft.rewards.official import OFFICIAL_REWARDS
from vrft.rewards.parse import extract_answer

A = "<answer>x</answer>"
T = "<think>t</think>"

# (text, on, off, after): the layout each mode accepts
LAYOUTS = [
    (T + A, 1.0, 0.0, 0.0),
    (T + " \n" + A, 1.0, 0.0, 0.0),
    (A, 0.0, 1.0, 0.0),
    ("  " + A + "\n", 0.0, 1.0, 0.0),
    ("<answer></answer>", 0.0, 1.0, 0.0),
    (A + T, 0.0, 0.0, 1.0),
    (A + "\n" + T, 0.0, 0.0, 1.0),
    (A + "x" + T, 0.0, 0.0, 0.0),  # text between the blocks: no layout
    (T + "x" + A, 0.0, 0.0, 0.0),
    (T, 0.0, 0.0, 0.0),
    ("<answer>x", 0.0, 0.0, 0.0),
    ("", 0.0, 0.0, 0.0),
    ("<answer>", 0.0, 0.0, 0.0),
    ("<answer></think>", 0.0, 0.0, 0.0),
    (T + A + T, 0.0, 0.0, 0.0),
    (A + T + A, 0.0, 1.0, 0.0),
]


@pytest.mark.parametrize("text, on, off, after", LAYOUTS)
def test_format_score_per_mode(text, on, off, after):
    for mode, expected in zip(THINK_MODES, (on, off, after), strict=True):
        assert format_score(text, think=mode) == expected, mode
        official = re.fullmatch(FORMAT_PATTERNS[mode], text.strip(), re.DOTALL)
        assert expected == (1.0 if official else 0.0), mode


tag_soup = st.lists(
    st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", " ", "\n", "x"]), max_size=10
).map("".join)


@settings(max_examples=300, deadline=None)
@given(tag_soup, st.sampled_from(THINK_MODES))
def test_format_score_agrees_with_each_modes_regex(text, mode):
    """The linear check accepts the same strings as the mode's regex under fullmatch (the loop reference)."""
    official = re.fullmatch(FORMAT_PATTERNS[mode], text.strip(), re.DOTALL)
    assert format_score(text, think=mode) == (1.0 if official else 0.0)
    raw = re.fullmatch(FORMAT_PATTERNS[mode], text, re.DOTALL)
    assert format_score(text, strip=False, think=mode) == (1.0 if raw else 0.0)


def test_format_reward_takes_the_mode_and_refuses_others():
    assert format_reward([T + A, A, A + T]) == [1.0, 0.0, 0.0]  # default: the paper's layout
    assert format_reward([T + A, A, A + T], think="off") == [0.0, 1.0, 0.0]
    assert format_reward([T + A, A, A + T], think="after") == [0.0, 0.0, 1.0]
    assert OFFICIAL_REWARDS.get("format")([A, A + "\n"], think="off") == [1.0, 0.0]
    with pytest.raises(ConfigError, match="prompt.think"):
        format_reward([A], think="none")


def test_every_prompt_takes_think():
    fields = {"category": "dog", "noun": "a plant", "attribute": "species", "instruction": "the cup"}
    for name in PROMPTS:
        fn = PROMPTS.get(name)
        params = inspect.signature(fn).parameters
        assert "think" in params, name
        kw = {k: v for k, v in fields.items() if k in params}
        assert fn(**kw, think="on") == fn(**kw), name  # `on` is the default: the paper's text unchanged


@pytest.mark.parametrize(
    "name, fields",
    [
        ("detection", {"category": "dog"}),
        ("classification_flowers", {}),
        ("lisa_grounding", {"instruction": "the cup."}),
        ("detection_short", {"category": "dog"}),
        ("classification_short", {}),
        ("grounding_short", {"instruction": "the cup"}),
    ],
)
def test_prompts_show_the_modes_layout(name, fields):
    fn = PROMPTS.get(name)
    on, off, after = (fn(**fields, think=m) for m in THINK_MODES)
    assert re.search(r"</think>\s*<answer>", on) and not re.search(r"</answer>\s*<think>", on)
    assert "<think>" not in off and "<answer>" in off
    assert re.search(r"</answer>\s*<think>", after) and not re.search(r"</think>\s*<answer>", after)
    with pytest.raises(ConfigError, match="prompt.think"):
        fn(**fields, think="before")


CODEC = Norm1000Codec()
RECORDS = [
    DetectionRecord(
        image="a.jpg",
        image_id=1,
        width=100,
        height=100,
        category_id=3,
        category="dog",
        boxes=((10, 10, 50, 50),),
    ),
    ClassificationRecord(image="c.jpg", label="rose"),
    GroundingRecord(
        image="g.jpg", image_id="2", width=100, height=100, instruction="the cup", box=(0, 0, 50, 50)
    ),
]
PROMPT_OF = {
    "detection": "detection",
    "classification": "classification_flowers",
    "grounding": "lisa_grounding",
}


@pytest.mark.parametrize("think", THINK_MODES)
@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_rows_and_sft_targets_follow_the_mode(record, think):
    row = to_row(record, PROMPT_OF[_kind(record)], CODEC, think=think)
    assert ("<think>" in row["problem"]) == (think != "off")
    target = sft_target(row, thought=True, think=think)
    assert format_score(target, think=think) == 1.0  # an SFT target passes the format reward of its mode
    assert extract_answer(target) == extract_answer(row["solution"])
    assert sft_target(row, thought=False, think=think) == row["solution"]  # answer-only (the paper's SFT)
    assert (SFT_THOUGHT in target) == (think != "off")


# every layout with and without `algo.sft_think`, except answer-only in the `on` layout, whose target was the
# solution as written before solutions carried their own thought
OWN_THOUGHT_CASES = [(t, s) for t in THINK_MODES for s in (True, False) if s or t != "on"]


@pytest.mark.parametrize(("think", "thought"), OWN_THOUGHT_CASES)
def test_a_solutions_own_thought_is_its_target_in_the_on_layout_only(think, thought):
    """Rows that carry their reasoning (`<think>red circle</think><answer>...`) train it in place of the
    placeholder where the layout puts the thought first; the other layouts drop it, so targets keep their
    layout's format."""
    row = {"solution": "<think>red circle</think><answer>No Objects</answer>"}
    target = sft_target(row, thought=thought, think=think)
    if think == "on":
        assert target == row["solution"] == sft_target(row, thought=False, think=think)
    else:
        assert "red circle" not in target
    answer = "<answer>No Objects</answer>"
    placed = {"on": SFT_THOUGHT + answer, "after": answer + SFT_THOUGHT, "off": answer}[think]
    assert sft_target({"solution": answer}, thought=thought, think=think) == (placed if thought else answer)
    if think != "on":
        assert target == (placed if thought else answer)


def _kind(record) -> str:
    return {
        DetectionRecord: "detection",
        ClassificationRecord: "classification",
        GroundingRecord: "grounding",
    }[type(record)]


def _in_layout(answer: str, think: str) -> str:
    block = f"<answer>{answer}</answer>"
    return {"on": f"<think>it is</think>{block}", "off": block, "after": f"{block}<think>it is</think>"}[
        think
    ]


@pytest.mark.parametrize("think", THINK_MODES)
def test_evaluation_reads_the_answer_in_every_layout(think):
    assert classification_accuracy([_in_layout("rose", think)], ["rose"])["accuracy"] == 100.0
    det_meta = {"image_id": 1, "category_id": 3, "width": 1000, "height": 1000}
    dets = predictions_to_coco(
        [_in_layout("[{'Position': [10, 10, 50, 50], 'Confidence': 0.9}]", think)], [det_meta], CODEC
    )
    assert [d["bbox"] for d in dets] == [[10.0, 10.0, 40.0, 40.0]]
    grd_meta = {"image_id": 2, "width": 1000, "height": 1000, "box_abs": [0.0, 0.0, 500.0, 500.0]}
    assert grounding_metrics([_in_layout("(0,0),(500,500)", think)], [grd_meta], CODEC)["mIoU"] == 100.0


def test_released_rows_keep_the_paper_layout_only():
    from vrft.config import TaskCfg

    rows = [
        {
            "image": "a.jpg",
            "problem": PROMPTS.get("detection")(category="dog"),
            "solution": "<answer>x</answer>",
        }
    ]
    assert build_rows(rows, TaskCfg(name="t"), CODEC, "on") == rows
    with pytest.raises(ConfigError, match="prompt.think='off'.*released rows"):
        build_rows(rows, TaskCfg(name="t"), CODEC, "off")
    plain = [{**rows[0], "problem": PROMPTS.get("synth_detection")(category="dog")}]  # names no layout
    assert build_rows(plain, TaskCfg(name="t"), CODEC, "off") == plain  # the synthetic base's SFT rows


def test_a_synthetic_base_is_built_in_the_callers_layout(tmp_path, cache_dir):
    """A run with think off on a synthetic task starts from a base SFT-trained without the block (another recipe);
    `on` passes nothing, so built bases are reused."""
    from tests.conftest import compose_run
    from vrft.synthetic.base import base_overrides, compose_recipe, recipe

    on = compose_run(["experiment=synth_det_fewshot"], tmp_path, cache_dir)
    off = compose_run(["experiment=synth_det_fewshot", "prompt.think=off"], tmp_path, cache_dir)
    assert not any(o.startswith("prompt.think") for o in base_overrides(on))
    base = compose_recipe("synth_base", base_overrides(off))
    assert base.prompt.think == "off" and base.algo.sft_think  # answer-only SFT targets (sft_target, off)
    assert recipe(base)["prompt"] == {"think": "off"}


def test_config_key_binds_the_format_reward(tmp_path, cache_dir):
    from tests.conftest import compose_run
    from vrft.assemble import build_rewards

    for think in THINK_MODES:
        cfg = compose_run([f"prompt.think={think}", "experiment=synth_det_fewshot"], tmp_path, cache_dir)
        assert cfg.prompt.think == think
        kwargs = {s.name: s.kwargs for s in build_rewards(cfg).specs}
        assert kwargs["format"]["think"] == think
        assert "think" not in kwargs["iou"]
    default = compose_run([], tmp_path, cache_dir)
    assert default.prompt.think == "on"  # the paper's prompts (conf/config.yaml)


def test_config_reads_yaml_booleans_and_refuses_other_values(tmp_path, cache_dir):
    from tests.conftest import compose_run

    assert compose_run(["prompt.think=false"], tmp_path, cache_dir).prompt.think == "off"  # YAML's bare `off`
    assert compose_run(["prompt.think=true"], tmp_path, cache_dir).prompt.think == "on"
    with pytest.raises(ConfigError, match=r"prompt.think='before' is invalid: must be one of on, off, after"):
        compose_run(["prompt.think=before"], tmp_path, cache_dir)
    with pytest.raises(ConfigError, match="reward.functions.format.kwargs.think.*prompt.think instead"):
        compose_run(["+reward.functions.format.kwargs.think=off"], tmp_path, cache_dir)


def test_base_model_recipe_names_the_mode_only_when_not_the_papers(tmp_path, cache_dir):
    """A base model SFT-trained in another layout is another model; `on` keeps the recipes (and built bases)."""
    import dataclasses

    from tests.conftest import compose_run
    from vrft.synthetic.base import recipe

    on = compose_run([], tmp_path, cache_dir)
    assert "prompt" not in recipe(on)
    off = dataclasses.replace(on, prompt=dataclasses.replace(on.prompt, think="off"))
    assert recipe(off)["prompt"] == {"think": "off"}


def test_compat_monitor_reads_whitespace_in_the_runs_layout(tmp_path, cache_dir):
    """compat/format_whitespace: surrounding whitespace around a completion well-formed in the run's layout."""
    from tests.conftest import compose_run
    from vrft.assemble import build_rewards
    from vrft.rewards.monitors import hack_monitors

    padded = [" " + A + "\n"]
    assert hack_monitors(padded, [A], compat=True)["compat/format_whitespace"] == 0.0  # not the `on` layout
    assert hack_monitors(padded, [A], compat=True, think="off")["compat/format_whitespace"] == 1.0
    assert build_rewards(compose_run(["prompt.think=off"], tmp_path, cache_dir)).think == "off"


def test_the_papers_presets_keep_the_reasoning_block(tmp_path, cache_dir):
    from tests.conftest import compose_run
    from vrft.paths import EXPERIMENTS_DIR

    for name in sorted(p.stem for p in EXPERIMENTS_DIR.glob("paper_*.yaml")):
        assert compose_run([f"experiment={name}"], tmp_path, cache_dir).prompt.think == "on", name
