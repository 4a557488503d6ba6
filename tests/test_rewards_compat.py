"""`reward.compat`: every difference between `hardened` and `official` (docs/rewards.md's table, row by row, in both
modes), the official rules on their own, agreement on clean answers, the monitors, and a GRPO run in `official`.

Expected official scores are worked out by hand from the official code (`grpo.py`, `grpo_classification.py`,
`grpo_lisa.py` of Liuziyu77/Visual-RFT), not read off this implementation.
"""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vrft.errors import ConfigError
from vrft.rewards import REWARDS, reward_set
from vrft.rewards.official.differences import DIFFERENCES, compat_monitors
from vrft.rewards.official.rules import (
    accuracy_without_precheck,
    detection_scores,
    giou_without_precheck,
    line_answer,
)
from vrft.rewards.parse import MAX_ENTRIES

needs_math_verify = pytest.mark.skipif(
    importlib.util.find_spec("math_verify") is None, reason="compat=official needs math-verify"
)


def wrap(answer: str) -> str:
    return f"<think>x</think><answer>{answer}</answer>"


def det(*entries) -> str:
    return "[" + ", ".join(f"{{'Position': {list(p)}, 'Confidence': {c}}}" for p, c in entries) + "]"


GT = (100, 200, 300, 400)
NEAR = (100, 210, 300, 400)  # IoU 0.95 with GT; its first y differs, so math_verify's pre-check does not pass
DET_SOL = f"<answer>{det((GT, 1))}</answer>"
CLS_SOL = "<answer>garden phlox</answer>"
GRD_SOL = "<answer> (100,200),(300,400) </answer>"

# key: (reward, completion, solution, hardened, official); one row per row of docs/rewards.md's table
ROWS = {
    "math_verify": ("iou", wrap(det(((0, 200, 50, 250), 0.9))), DET_SOL, 0.0, 1.0),  # only y1 = 200 agrees
    "no_answer_block": ("accuracy", "<think>it is a garden phlox</think>", CLS_SOL, 0.0, 1.0),
    "multiline_answer": ("iou", wrap("[\n" + det((NEAR, 0.9))[1:-1] + "\n]"), DET_SOL, 0.95, 0.0),
    "format_whitespace": ("format", wrap("b") + "\n", CLS_SOL, 1.0, 0.0),
    "label_whitespace": ("accuracy", wrap("garden\tphlox"), CLS_SOL, 1.0, 0.0),
    "empty_label": ("accuracy", wrap(""), CLS_SOL, 0.0, 1.0),
    "substring_label": ("accuracy", wrap("phlox"), CLS_SOL, 0.0, 1.0),
    "no_objects_truth": ("iou", wrap("No Objects"), "<answer>No Objects</answer>", 1.0, 0.0),
    "truncated_list": ("iou", wrap(det((NEAR, 0.9))[:-1] + ", {'Position': [5, 6"), DET_SOL, 0.0, 0.95),
    # hardened: n = 2, m = 1 -> 0.95 / 2; official: the 3-number Position, matched first (higher confidence)
    # against the still unmatched truth, raises in calculate_iou, so the whole answer scores 0
    "invalid_entry": ("iou", wrap(det((NEAR, 0.9), ((1, 2, 3), 0.95))), DET_SOL, 0.475, 0.0),
    "nonfinite_confidence": ("confidence", wrap(det((NEAR, "NaN"))), DET_SOL, 0.0, math.nan),
    # hardened clamps 5 to 1: (1 + 0) / 2; official: (5 + 0) / 2 = 2.5, clamped to 1.0
    "confidence_range": ("confidence", wrap(det((NEAR, 5), ((500, 500, 600, 600), 1))), DET_SOL, 0.5, 1.0),
    "over_max_entries": ("iou", wrap(det(*[(NEAR, 0.9)] * (MAX_ENTRIES + 1))), DET_SOL, 0.0, 0.95),
    # hardened: inside the truth, IoU = 199.5 * 200 / 40000, enclosing box = truth -> GIoU + 1 = 1.9975
    "grounding_decimal": ("giou", wrap("(100.5,200),(300,400)"), GRD_SOL, 1.9975, 0.0),
    # official: area 0, IoU 0, enclosing box = truth = union -> GIoU 0 -> 1.0
    "grounding_zero_area": ("giou", wrap("(150,250),(150,350)"), GRD_SOL, 0.0, 1.0),
    # official (/1000): union = .04 + .1575, enclosing = .04 -> GIoU = -(.04 - .1975) / .04 = 3.9375 -> 4.9375
    "grounding_reversed": ("giou", wrap("(350,450),(0,0)"), GRD_SOL, 0.0, 4.9375),
    # official pairs (.1,.2) with (0,0): union .06, enclosing .04 -> GIoU 0.5 -> 1.5; hardened: the first box
    "grounding_several_boxes": ("giou", wrap("(100,200),(300,400),(0,0),(50,50)"), GRD_SOL, 2.0, 1.5),
    # the ground-truth side. A zero-width truth box (a thin COCO box encoded to zero width) cannot be found:
    # hardened leaves it out of max(n, m) -> 0.95 / 1; official counts it -> 0.95 / 2
    "truth_invalid_box": (
        "iou",
        wrap(det((NEAR, 0.9))),
        f"<answer>{det((GT, 1), ((500, 500, 500, 600), 1))}</answer>",
        0.95,
        0.475,
    ),
    # a truth written without <answer> tags: hardened reads it whole; the official parser finds no list -> 0
    "truth_no_answer_block": ("iou", wrap(det((NEAR, 0.9))), det((GT, 1)), 0.95, 0.0),
    # an empty truth label: '' is in every answer, so the official rule pays anything; hardened pays nothing
    "truth_empty_label": ("accuracy", wrap("tulip"), "<answer></answer>", 0.0, 1.0),
    # the official truth regex takes integers only and scores 0; hardened reads the decimal (GIoU as above)
    "grounding_truth_decimal": (
        "giou",
        wrap("(100,200),(300,400)"),
        "<answer> (100.5,200),(300,400) </answer>",
        1.9975,
        0.0,
    ),
    # official pairs the truth's first corner with its second box's; hardened takes the first box
    "grounding_truth_several_boxes": (
        "giou",
        wrap("(100,200),(300,400)"),
        "<answer> (100,200),(300,400),(0,0),(50,50) </answer>",
        2.0,
        1.5,
    ),
}


def _score(reward: str, completion: str, solution: str, compat: str) -> float:
    return reward_set(compat).get(reward)([completion], solution=[solution])[0]


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-9)


@pytest.mark.parametrize("key", ROWS)
def test_row_hardened(key):
    reward, completion, solution, hardened, _ = ROWS[key]
    assert _same(_score(reward, completion, solution, "hardened"), hardened)


@needs_math_verify
@pytest.mark.parametrize("key", ROWS)
def test_row_official_differs_and_is_detected(key):
    reward, completion, solution, hardened, official = ROWS[key]
    assert _same(_score(reward, completion, solution, "official"), official)
    assert not _same(hardened, official), "a row of the table is a difference"
    m = compat_monitors([completion], [solution])
    assert m[f"compat/{key}"] == 1.0 and m["compat/any"] == 1.0


CLEAN = [
    ("iou", wrap(det((NEAR, 0.9))), DET_SOL, 0.95),
    ("confidence", wrap(det((NEAR, 0.9), ((500, 500, 600, 600), 0.2))), DET_SOL, (0.9 + 0.8) / 2),
    ("iou", wrap("[" + det((NEAR, 0.9)) + "]"), DET_SOL, 0.95),  # [[ ]] is read as [ ] in both modes
    ("confidence", wrap(det((NEAR, 0.3), (NEAR, 0.9))), DET_SOL, 0.3),  # duplicates: the first occurrence
    ("iou", wrap(det((NEAR, 1))), f"<answer>{det(*[(GT, 1)] * (MAX_ENTRIES + 1))}</answer>", 0.95 / 301),
    ("accuracy", wrap("Garden_Phlox"), CLS_SOL, 1.0),
    ("accuracy", wrap("tulip"), CLS_SOL, 0.0),
    ("giou", wrap("(100,200),(300,400)"), GRD_SOL, 2.0),
    ("format", wrap("b"), CLS_SOL, 1.0),
]


@needs_math_verify
@pytest.mark.parametrize("reward, completion, solution, expected", CLEAN)
def test_clean_answers_agree_and_fire_no_row(reward, completion, solution, expected):
    for compat in ("hardened", "official"):
        assert _score(reward, completion, solution, compat) == pytest.approx(expected)
    assert compat_monitors([completion], [solution])["compat/any"] == 0.0


def test_readme_table_lists_every_difference_with_both_scores():
    text = (Path(__file__).parents[1] / "docs" / "rewards.md").read_text()
    section = text.split("## Rewards", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`(\w+)`\s*\|", line)
        if m:
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows[m.group(1)] = cells
    assert set(rows) == set(ROWS) == set(DIFFERENCES)
    for key, (reward, *_, hardened, official) in ROWS.items():
        assert rows[key][1] == f"`{reward}`", key
        assert float(rows[key][3]) == pytest.approx(hardened, abs=1e-4), key
        assert (
            math.isnan(official) if rows[key][4] == "NaN" else float(rows[key][4]) == pytest.approx(official)
        )


def test_compat_is_checked():
    for reward in ("format", "accuracy", "iou", "confidence", "giou"):
        with pytest.raises(ConfigError, match="reward.compat"):
            _score(reward, wrap("x"), CLS_SOL, "paper")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a <answer>x</answer> b", "x"),
        ("<answer>x\ny</answer><answer>z</answer>", "z"),  # the first block spans lines: the next one
        ("<answer>x\n</answer>\n<answer> y </answer>", " y "),
        ("<answer><answer>x</answer>", "<answer>x"),
        ("no tags", None),
    ],
)
def test_line_answer_is_the_official_regex(text, expected):
    m = re.search(r"<answer>(.*?)</answer>", text)
    assert line_answer(text) == expected == (m.group(1) if m else None)


TAGS = st.sampled_from(
    ["<answer>", "</answer>", "<think>", "</think>", "\n", " ", "[", "]", "{", "}", ",", "'"]
)
PIECES = st.sampled_from(
    ["'Position'", "'Confidence'", ":", "0", "1", "0.5", "250", "NaN", "(", ")", "[[", "x"]
)
TEXT = st.lists(st.one_of(TAGS, PIECES), max_size=40).map("".join)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(TEXT)
def test_official_rules_never_raise_and_stay_in_range(text):
    assert line_answer(text) == (m.group(1) if (m := re.search(r"<answer>(.*?)</answer>", text)) else None)
    iou, conf = detection_scores(text, DET_SOL)
    assert 0.0 <= iou <= 1.0
    assert math.isnan(conf) or 0.0 <= conf <= 1.0
    assert accuracy_without_precheck(text, CLS_SOL) in (0.0, 1.0)
    assert isinstance(giou_without_precheck(text, GRD_SOL), float)
    assert reward_set("official").get("format")([text])[0] in (0.0, 1.0)


COORD = st.integers(0, 1000)
BOX = st.tuples(COORD, COORD, st.integers(1, 200), st.integers(1, 200)).map(
    lambda b: (b[0], b[1], b[0] + b[2], b[1] + b[3])
)
CONF = st.integers(0, 10).map(lambda i: i / 10)


@FAST
@given(
    st.lists(BOX, min_size=1, max_size=3),
    st.lists(st.tuples(BOX, CONF), min_size=1, max_size=4, unique_by=lambda e: e[0]),
)
def test_clean_detection_agrees_exactly_without_the_precheck(gts, preds):
    sol = f"<answer>{det(*[(g, 1) for g in gts])}</answer>"
    text = wrap(det(*preds))
    hardened = [_score(r, text, sol, "hardened") for r in ("iou", "confidence")]
    assert hardened == list(detection_scores(text, sol))


@FAST
@given(BOX, BOX)
def test_clean_grounding_agrees_without_the_precheck(gt, pred):
    sol = f"<answer> ({gt[0]},{gt[1]}),({gt[2]},{gt[3]}) </answer>"
    text = wrap(f"({pred[0]},{pred[1]}),({pred[2]},{pred[3]})")
    assert _score("giou", text, sol, "hardened") == pytest.approx(giou_without_precheck(text, sol), abs=1e-12)


LABELS = st.sampled_from(["garden phlox", "bald eagle", "rose", "2012 acura rl sedan", "boeing 737"])


@FAST
@given(LABELS, LABELS, st.booleans())
def test_clean_labels_agree_under_the_substring_rule_without_the_precheck(label, answer, underscores):
    text = wrap(answer.replace(" ", "_") if underscores else answer)
    hardened = REWARDS.get("accuracy")([text], solution=[f"<answer>{label}</answer>"], match="substring")[0]
    assert hardened == accuracy_without_precheck(text, f"<answer>{label}</answer>")


def test_monitors_count_each_row_over_a_batch():
    keys = ["no_answer_block", "empty_label", "grounding_decimal"]
    batch = [ROWS[k][1:3] for k in keys] + [(wrap("garden phlox"), CLS_SOL)]
    m = compat_monitors([c for c, _ in batch], [s for _, s in batch])
    for k in keys:
        assert m[f"compat/{k}"] == 0.25
    assert m["compat/any"] == 0.75
    assert m["compat/truncated_list"] == 0.0


@needs_math_verify
def test_grpo_run_with_official_compat_trains(tmp_path, cache_dir):
    from tests.conftest import compose_run
    from tests.test_grpo_module import FAST as RUN
    from tests.test_grpo_module import Capture, fit

    cfg = compose_run([*RUN, "reward.compat=official"], tmp_path, cache_dir)
    assert cfg.reward.compat == "official"
    cap = Capture()
    module, trainer, changed, _ = fit(cfg, cap)
    assert changed and trainer.global_step == 2
    assert module.rewards.registry is reward_set("official") and module.rewards.compat_monitors
    keys = cap.logged_keys()
    assert {"train/reward/iou", "train/reward/format", "train/hack/compat/any"} <= keys, sorted(keys)


def test_bad_compat_is_a_one_line_config_error(tmp_path, cache_dir):
    from tests.conftest import compose_run

    with pytest.raises(ConfigError, match="reward.compat"):
        compose_run(["experiment=smoke", "reward.compat=paper"], tmp_path, cache_dir)


@needs_math_verify
def test_official_precheck_refuses_other_threads_and_monitors_skip_it():
    import threading

    errors, monitors = [], []

    def run():
        try:
            _score("iou", *ROWS["math_verify"][1:3], "official")
        except RuntimeError as err:
            errors.append(err)
        monitors.append(compat_monitors([wrap("x")], [DET_SOL]))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert errors and "main thread" in str(errors[0])
    assert "compat/math_verify" not in monitors[0] and "compat/any" in monitors[0]


# More of the official rules, each worked out by hand from the official code: (reward, completion, solution, score)
OFFICIAL_CASES = [
    # a reversed box: calculate_iou finds no overlap (xi2 <= xi1), so it is unmatched and earns 1 - c
    ("confidence", wrap(det(((300, 400, 100, 200), 0.3))), DET_SOL, 0.7),
    # a lower-ranked bad entry is never compared (the only truth box is already taken): (0.9 + (1 - 0.5)) / 2
    ("confidence", wrap(det((NEAR, 0.9), ((1, 2, 3), 0.5))), DET_SOL, 0.7),
    # an entry without Confidence: the sort raises, so both rewards give 0
    ("iou", wrap(f"[{{'Position': {list(NEAR)}}}]"), DET_SOL, 0.0),
    # `[]`: element 0 raises IndexError -> 0, even against a "No Objects" truth
    ("iou", wrap("[]"), "<answer>No Objects</answer>", 0.0),
    # an unclosed block: the whole completion is wrapped and starts with <think>, so json fails -> 0
    ("iou", "<think>x</think><answer>" + det((NEAR, 0.9)), DET_SOL, 0.0),
    # several boxes, one duplicated: first occurrence kept, n = 2 > m = 1 -> 0.95 / 2
    ("iou", wrap(det((NEAR, 0.9), ((500, 500, 600, 600), 0.2), (NEAR, 0.1))), DET_SOL, 0.475),
    # classification: both sides lose spaces and underscores, then lowercase; the whole text without a block
    ("accuracy", wrap("Garden_Phlox, surely"), CLS_SOL, 1.0),  # the label inside a longer answer
    ("accuracy", wrap("garden-phlox"), CLS_SOL, 0.0),  # a hyphen is kept
    ("accuracy", wrap("a garden phlox"), CLS_SOL, 1.0),
    ("accuracy", "garden phlox", "garden phlox", 1.0),
    # grounding: identical answer text scores 2.0; spaces inside pairs are allowed by the official regex
    ("giou", wrap("( 100 , 200 ),( 300 , 400 )"), GRD_SOL, 2.0),
    # disjoint boxes (/1000): union .04 + .0025, enclosing (.35 - .1) * (.45 - .2) = .0625 -> GIoU + 1 = 0.32
    ("giou", wrap("(300,400),(350,450)"), GRD_SOL, 1.0 + (0.0 - (0.0625 - 0.0425) / 0.0625)),
    # a grounding answer across lines is found (DOTALL) and a pair needs integers only
    ("giou", "<think>x</think><answer>\n(100,200),(300,400)\n</answer>", GRD_SOL, 2.0),
    # format: nothing may precede <think>, only whitespace between the blocks
    ("format", " " + wrap("b"), CLS_SOL, 0.0),
    ("format", "<think>a</think> \n <answer>b</answer>", CLS_SOL, 1.0),
    ("format", "<think>a</think>.<answer>b</answer>", CLS_SOL, 0.0),
]


@needs_math_verify
@pytest.mark.parametrize("reward, completion, solution, expected", OFFICIAL_CASES)
def test_official_rules(reward, completion, solution, expected):
    assert _score(reward, completion, solution, "official") == pytest.approx(expected)


def test_official_without_math_verify_is_a_config_error(tmp_path, cache_dir, monkeypatch):
    from tests.conftest import compose_run

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "math_verify" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"reward.compat=official needs the math-verify package"):
        compose_run(["experiment=smoke", "reward.compat=official"], tmp_path, cache_dir)


@needs_math_verify
def test_compat_monitors_run_under_official_or_on_request(tmp_path, cache_dir):
    from tests.conftest import compose_run
    from vrft.assemble import build_rewards
    from vrft.rewards.monitors import hack_monitors

    batch = ([wrap("x")], [DET_SOL])
    assert not any(k.startswith("compat/") for k in hack_monitors(*batch))
    assert "compat/any" in hack_monitors(*batch, compat=True)
    on = [
        build_rewards(compose_run(["experiment=smoke", *extra], tmp_path, cache_dir)).compat_monitors
        for extra in ([], ["reward.compat_monitors=true"], ["reward.compat=official"])
    ]
    assert on == [False, True, True]


@needs_math_verify
@pytest.mark.parametrize("answer", ["_", "___", " _ "])
def test_empty_label_monitor_counts_what_the_official_rule_normalises_to_nothing(answer):
    completion = wrap(answer)
    assert (
        _score("accuracy", completion, CLS_SOL, "hardened"),
        _score("accuracy", completion, CLS_SOL, "official"),
    ) == (
        0.0,
        1.0,
    )
    assert compat_monitors([completion], [CLS_SOL])["compat/empty_label"] == 1.0


@needs_math_verify
def test_a_reversed_truth_box_is_a_truth_invalid_box_too():
    completion = wrap(det((NEAR, 0.9)))
    solution = f"<answer>{det((GT, 1), ((600, 600, 500, 500), 1))}</answer>"
    assert (
        _score("iou", completion, solution, "hardened"),
        _score("iou", completion, solution, "official"),
    ) == (
        pytest.approx(0.95),
        pytest.approx(0.475),
    )
    assert compat_monitors([completion], [solution])["compat/truth_invalid_box"] == 1.0
