"""Reward rules of the issue's Semantics section and the known hacks, as tables."""

import pytest

from vrft.errors import ConfigError
from vrft.rewards import (
    REWARDS,
    accuracy_reward,
    confidence_reward,
    format_reward,
    giou_reward,
    iou_reward,
)
from vrft.rewards.parse import MAX_ENTRIES


def wrap(answer):
    return f"<think>reasoning</think><answer>{answer}</answer>"


def boxes(*entries, quote="'"):
    q = quote
    return "[" + ", ".join(f"{{{q}Position{q}: {list(p)}, {q}Confidence{q}: {c}}}" for p, c in entries) + "]"


G1, G2 = (0, 0, 100, 100), (200, 200, 300, 300)
SHIFT = (10, 0, 110, 100)  # IoU 9/11 with G1
HALF = (0, 0, 100, 50)  # IoU exactly 0.5 with G1
FAR = (500, 500, 510, 510)
SOL_G1 = f"<answer>{boxes((G1, 1))}</answer>"
SOL_G1G2 = f"<answer>{boxes((G1, 1), (G2, 1))}</answer>"
SOL_NONE = "<answer>No Objects</answer>"
SOL_EMPTY = "<answer>[]</answer>"

# completion, solution, iou, confidence
DETECTION = [
    (wrap(boxes((G1, 1))), SOL_G1, 1.0, 1.0),
    (wrap(boxes((G1, 0.9))), SOL_G1, 1.0, 0.9),
    (wrap(boxes((G1, 0.9), quote='"')), SOL_G1, 1.0, 0.9),
    (wrap(boxes((SHIFT, 0.8))), SOL_G1, 9 / 11, 0.8),
    (wrap(boxes((HALF, 0.8))), SOL_G1, 0.0, 0.2),  # IoU 0.5 is not a match
    (wrap(boxes((G1, 0.9), (FAR, 0.3))), SOL_G1, 0.5, (0.9 + 0.7) / 2),  # false positive: / max(n, m)
    (wrap(boxes((G1, 0.9))), SOL_G1G2, 0.5, 0.9),  # missed box: / max(n, m); confidence / n
    (wrap(boxes((G2, 0.6), (G1, 0.9))), SOL_G1G2, 1.0, 0.75),
    (wrap(boxes((G1, 0.5), (SHIFT, 0.9))), SOL_G1, (9 / 11) / 2, (0.9 + 0.5) / 2),  # greedy by confidence
    # No Objects / [] both ways
    (wrap("No Objects"), SOL_NONE, 1.0, 1.0),
    (wrap("no objects"), SOL_NONE, 1.0, 1.0),
    (wrap("[]"), SOL_NONE, 1.0, 1.0),
    (wrap("No Objects"), SOL_EMPTY, 1.0, 1.0),
    (wrap("No Objects"), SOL_G1, 0.0, 0.0),
    (wrap("[]"), SOL_G1, 0.0, 0.0),
    (wrap(boxes((G1, 0.9))), SOL_NONE, 0.0, 0.1),
    (wrap(boxes((G1, 0.0))), SOL_NONE, 0.0, 1.0),
    # invalid entries: unmatched with IoU 0, no confidence credit
    (wrap(boxes((G1, "NaN"))), SOL_G1, 0.0, 0.0),
    (wrap(boxes((G1, "Infinity"))), SOL_G1, 0.0, 0.0),
    (wrap(boxes((G1, "'0.9'"))), SOL_G1, 0.0, 0.0),
    (wrap("[{'Position': [0, 0, 100, 100]}]"), SOL_G1, 0.0, 0.0),
    (wrap(boxes((G1, 0.9), (G1[::-1], 0.9))), SOL_G1, 0.5, 0.45),
    (wrap(boxes((G1, 0.9), (G1, "NaN"))), SOL_G1, 0.5, 0.45),
    (wrap(boxes((G1, 0.9))[:-1] + ", 5]"), SOL_G1, 0.0, 0.0),  # a non-object entry fails the whole answer
    # confidences clamped to [0, 1]
    (wrap(boxes((G1, 1.5))), SOL_G1, 1.0, 1.0),
    (wrap(boxes((G1, -2))), SOL_G1, 1.0, 0.0),
    # duplicates are kept once: the first occurrence, with its confidence (official remove_duplicates)
    (wrap(boxes(*[(G1, 0.9)] * 5)), SOL_G1, 1.0, 0.9),
    (wrap(boxes((G1, 0.4), (G1, 0.9))), SOL_G1, 1.0, 0.4),
    # many distinct boxes: IoU divides by n; confidence rewards low-confidence spam (the paper's formula)
    (wrap(boxes((G1, 1), *[((500 + i, 500, 510 + i, 510), 0) for i in range(9)])), SOL_G1, 0.1, 1.0),
    # answers that do not parse score 0
    (wrap(boxes((G1, 0.9))[:-2]), SOL_G1, 0.0, 0.0),  # truncated
    (wrap(boxes((G1, 0.9))[:-1] + ",]"), SOL_G1, 0.0, 0.0),  # trailing comma
    (wrap("[" + boxes((G1, 0.9)) + "]"), SOL_G1, 1.0, 0.9),  # [[ ]] read as [ ], as officially
    (wrap("[0, 0, 100, 100]"), SOL_G1, 0.0, 0.0),
    (wrap(""), SOL_G1, 0.0, 0.0),
    (wrap(""), SOL_NONE, 0.0, 0.0),  # an empty answer is not "No Objects"
    (wrap("I see a cat"), SOL_G1, 0.0, 0.0),
    (wrap(boxes(*[(G1, 1)] * (MAX_ENTRIES + 1))), SOL_G1, 0.0, 0.0),  # over the cap
    # multi-line answers parse (the official non-DOTALL regex missed them)
    (wrap("[\n  {'Position': [0, 0, 100, 100],\n   'Confidence': 0.9}\n]"), SOL_G1, 1.0, 0.9),
    # no answer block
    (boxes((G1, 0.9)), SOL_G1, 0.0, 0.0),
    ("<think>x</think><answer>" + boxes((G1, 0.9)), SOL_G1, 0.0, 0.0),
    ("No Objects", SOL_NONE, 0.0, 0.0),
    # ground-truth entries need a valid Position only
    (wrap(boxes((G1, 0.9))), "<answer>[{'Position': [0, 0, 100, 100]}]</answer>", 1.0, 0.9),
    # text outside the tags does not matter to these rewards
    ("Sure. " + wrap(boxes((G1, 0.9))) + " Done.", SOL_G1, 1.0, 0.9),
    # conversational completion
    ([{"role": "assistant", "content": wrap(boxes((G1, 0.9)))}], SOL_G1, 1.0, 0.9),
]


@pytest.mark.parametrize("completion, solution, iou, conf", DETECTION)
def test_detection_rewards(completion, solution, iou, conf):
    assert iou_reward([completion], solution=[solution]) == [pytest.approx(iou)]
    assert confidence_reward([completion], solution=[solution]) == [pytest.approx(conf)]


@pytest.mark.parametrize("threshold, iou, conf", [(0.5, 9 / 11, 0.8), (0.85, 0.0, 0.2), (0.0, 9 / 11, 0.8)])
def test_iou_threshold_keyword(threshold, iou, conf):
    c, s = [wrap(boxes((SHIFT, 0.8)))], [SOL_G1]
    assert iou_reward(c, solution=s, iou_threshold=threshold) == [pytest.approx(iou)]
    assert confidence_reward(c, solution=s, iou_threshold=threshold) == [pytest.approx(conf)]


@pytest.mark.parametrize("bad", [1.0, -0.1, "0.5", None, True])
def test_bad_iou_threshold_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="iou_threshold"):
        iou_reward([wrap("[]")], solution=[SOL_NONE], iou_threshold=bad)


def test_huge_answer_is_cut_off_by_the_cap():
    huge = wrap(boxes(*[((i, 0, i + 10, 10), 0.5) for i in range(20_000)]))
    assert iou_reward([huge], solution=[SOL_G1]) == [0.0]
    assert confidence_reward([huge], solution=[SOL_G1]) == [0.0]
    assert format_reward([huge], solution=[SOL_G1]) == [1.0]


# completion, label, exact, substring
CLASSIFICATION = [
    (wrap("garden phlox"), "garden phlox", 1.0, 1.0),
    (wrap("Garden_Phlox"), "garden phlox", 1.0, 1.0),
    (wrap("  garden\nphlox "), "garden phlox", 1.0, 1.0),  # multi-line, whitespace
    (wrap("gardenphlox"), "garden_phlox", 1.0, 1.0),
    (wrap("phlox"), "garden phlox", 0.0, 1.0),
    (wrap("garden phlox flower"), "garden phlox", 0.0, 1.0),
    (wrap(""), "garden phlox", 0.0, 0.0),  # empty answer hack
    (wrap(" _ "), "garden phlox", 0.0, 0.0),
    (wrap("Acura"), "2012 Acura RL Sedan", 0.0, 1.0),  # brand-only hack
    (wrap("737"), "737-200", 0.0, 1.0),
    (wrap("rose or garden phlox or tulip"), "garden phlox", 0.0, 1.0),  # "A or B or C" hack
    (wrap("tulip"), "garden phlox", 0.0, 0.0),
    ("garden phlox", "garden phlox", 0.0, 0.0),  # no answer block
    ("<answer>garden phlox", "garden phlox", 0.0, 0.0),
    ("I think <answer>garden phlox</answer> is it", "garden phlox", 1.0, 1.0),
    ([{"role": "assistant", "content": wrap("garden phlox")}], "garden phlox", 1.0, 1.0),
]


@pytest.mark.parametrize("completion, label, exact, substring", CLASSIFICATION)
def test_accuracy(completion, label, exact, substring):
    sol = [f"<answer>{label}</answer>"]
    assert accuracy_reward([completion], solution=sol) == [exact]
    assert accuracy_reward([completion], solution=sol, match="exact") == [exact]
    assert accuracy_reward([completion], solution=sol, match="substring") == [substring]


def test_bad_match_is_a_config_error():
    with pytest.raises(ConfigError, match="match"):
        accuracy_reward([wrap("a")], solution=["<answer>a</answer>"], match="fuzzy")


SOL_BOX = "<answer> (0,0),(10,10) </answer>"

# completion, solution, giou + 1
GROUNDING = [
    (wrap("(0,0),(10,10)"), SOL_BOX, 2.0),
    (wrap("(5,0),(15,10)"), SOL_BOX, 1 + 1 / 3),
    (wrap("(0,0),(5,5)"), SOL_BOX, 1.25),
    (wrap("(20,0),(30,10)"), SOL_BOX, 1 - 1 / 3),  # disjoint: GIoU < 0
    (wrap("(0.0,0.0),(10.0,10.0)"), SOL_BOX, 2.0),
    (wrap("The box is (0, 0), (10, 10)."), SOL_BOX, 2.0),
    (wrap("(0,0),(10,10) or (50,50),(60,60)"), SOL_BOX, 2.0),
    (wrap("(50,50),(60,60) or (0,0),(10,10)"), SOL_BOX, 1 - (3600 - 200) / 3600),
    (wrap("(10,10),(0,0)"), SOL_BOX, 0.0),  # invalid pair
    (wrap("[0, 0, 10, 10]"), SOL_BOX, 0.0),
    (wrap(""), SOL_BOX, 0.0),
    ("(0,0),(10,10)", SOL_BOX, 0.0),  # no answer block
    (wrap("(0,0),(10,10)"), "<answer>(0.0,0.0),(10.5,10.5)</answer>", 1 + 100 / 110.25),
]


@pytest.mark.parametrize("completion, solution, expected", GROUNDING)
def test_giou(completion, solution, expected):
    assert giou_reward([completion], solution=[solution]) == [pytest.approx(expected)]


FORMAT = [
    ("<think>a</think><answer>b</answer>", 1.0),
    ("<think>\na\nb\n</think>\n<answer>\nc\n</answer>", 1.0),
    ("  \n<think>a</think><answer>b</answer>\n ", 1.0),  # surrounding whitespace ignored
    ("<think>a</think> \n\t <answer>b</answer>", 1.0),  # only whitespace between
    ("<think></think><answer></answer>", 1.0),
    ("<think>a</think><answer>b</answer><answer>c</answer>", 1.0),  # the official lazy regex under fullmatch
    ("<think>a</think>x<answer>b</answer>", 0.0),  # text between
    ("Sure! <think>a</think><answer>b</answer>", 0.0),  # text before
    ("<think>a</think><answer>b</answer> Done.", 0.0),  # text after
    ("<answer>b</answer>", 0.0),
    ("<think>a</think>", 0.0),
    ("<think>a</think><answer>b", 0.0),  # truncated
    ("<answer>b</answer><think>a</think>", 0.0),
    ("<THINK>a</THINK><ANSWER>b</ANSWER>", 0.0),
    ("", 0.0),
    ([{"role": "assistant", "content": "<think>a</think><answer>b</answer>"}], 1.0),
    (
        [{"role": "assistant", "content": [{"type": "text", "text": "<think>a</think><answer>b</answer>"}]}],
        1.0,
    ),
    (None, 0.0),
]


@pytest.mark.parametrize("completion, expected", FORMAT)
def test_format(completion, expected):
    assert format_reward([completion]) == [expected]
    assert format_reward([completion], solution=["<answer>x</answer>"], image_id=[7]) == [expected]


MIXED_SOLUTIONS = [SOL_G1, SOL_NONE, "<answer>garden phlox</answer>", SOL_BOX, None]


@pytest.mark.parametrize(
    "name, applies",
    [
        ("iou", [True, True, False, False, False]),
        ("confidence", [True, True, False, False, False]),
        ("map", [True, True, False, False, False]),
        ("count", [True, True, False, False, False]),
        ("accuracy", [False, False, True, False, False]),
        ("giou", [False, False, False, True, False]),
        ("format", [True, True, True, True, True]),
    ],
)
def test_none_for_samples_of_another_kind(name, applies):
    completions = [wrap("whatever")] * len(MIXED_SOLUTIONS)
    out = REWARDS.get(name)(completions, solution=MIXED_SOLUTIONS, problem=["p"] * 5)
    assert [v is not None for v in out] == applies


@pytest.mark.parametrize("name", ["iou", "confidence", "map", "count", "accuracy", "giou"])
def test_length_mismatch_raises(name):
    with pytest.raises(ValueError, match="solutions"):
        REWARDS.get(name)([wrap("a")] * 2, solution=["<answer>a</answer>"])
