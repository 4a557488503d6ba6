"""Parsers and box helpers of vrft.rewards.parse: one table per rule."""

import math

import pytest

from vrft.rewards.parse import (
    MAX_ENTRIES,
    PredBox,
    box_giou,
    box_iou,
    completion_text,
    dedup_boxes,
    extract_answer,
    match_boxes,
    normalize_label,
    parse_detection,
    parse_grounding,
    solution_kind,
)

ONE = "[{'Position': [1, 2, 3, 4], 'Confidence': 0.5}]"


def entry(pos="[1, 2, 3, 4]", conf="0.5"):
    return f"{{'Position': {pos}, 'Confidence': {conf}}}"


@pytest.mark.parametrize(
    "c, text",
    [
        ("plain", "plain"),
        ([{"role": "assistant", "content": "abc"}], "abc"),
        (
            [
                {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                }
            ],
            "ab",
        ),
        ([{"role": "assistant", "content": [{"type": "image"}, {"type": "text", "text": "b"}]}], "b"),
        ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "a"),
        (
            [
                {"role": "assistant", "content": "a1"},
                {"role": "tool", "content": "t"},
                {"role": "assistant", "content": "a2"},
            ],
            "a2",
        ),
        ([{"content": "no role"}], "no role"),
        ({"role": "assistant", "content": "single"}, "single"),
        ([{"role": "assistant", "content": None}], ""),
        ([], ""),
        (None, ""),
        (5, ""),
        ([1, 2], ""),
    ],
)
def test_completion_text(c, text):
    assert completion_text(c) == text


@pytest.mark.parametrize(
    "text, answer",
    [
        ("<answer>cat</answer>", "cat"),
        ("<think>t</think><answer>  cat \n</answer>", "cat"),
        ("<answer>\nline1\nline2\n</answer>", "line1\nline2"),
        ("<answer>first</answer><answer>second</answer>", "first"),
        ("<answer></answer>", ""),
        ("<answer> \n </answer>", ""),
        ("<answer><answer>x</answer></answer>", "<answer>x"),
        ("<answer>cat", None),
        ("cat</answer>", None),
        ("no tags", None),
        ("<ANSWER>cat</ANSWER>", None),
        ("", None),
        (None, None),
    ],
)
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


@pytest.mark.parametrize(
    "s, norm",
    [
        ("Garden Phlox", "gardenphlox"),
        ("garden_phlox", "gardenphlox"),
        ("  Garden\tPhlox\n", "gardenphlox"),
        ("2012 Acura RL Sedan", "2012acurarlsedan"),
        ("737-200", "737-200"),
        ("", ""),
        ("_ _", ""),
    ],
)
def test_normalize_label(s, norm):
    assert normalize_label(s) == norm


# answer -> (ok, no_objects, entries, valid entries)
DETECTION_CASES = [
    ("No Objects", (True, True, 0, 0)),
    ("no objects", (True, True, 0, 0)),
    ("NO OBJECTS", (True, True, 0, 0)),
    ("  No Objects \n", (True, True, 0, 0)),
    ("No Objects.", (False, False, 0, 0)),
    ("There are No Objects", (False, False, 0, 0)),
    ("[]", (True, True, 0, 0)),
    ("[ \n ]", (True, True, 0, 0)),
    (ONE, (True, False, 1, 1)),
    ('[{"Position": [1, 2, 3, 4], "Confidence": 0.5}]', (True, False, 1, 1)),
    ("[{\"Position\": [1, 2, 3, 4], 'Confidence': 0.5}]", (True, False, 1, 1)),
    ("[\n  {'Position': [1, 2, 3, 4],\n   'Confidence': 0.5}\n]", (True, False, 1, 1)),
    ("[" + entry() + ", " + entry("[5, 6, 7, 8]") + "]", (True, False, 2, 2)),
    ("[" + entry() + ", {'Position': [5, 6", (False, False, 0, 0)),  # truncated
    ("[" + entry() + ",", (False, False, 0, 0)),  # truncated after a comma
    ("[[" + entry() + "]]", (True, False, 1, 1)),  # doubly wrapped: [[ -> [ and ]] -> ], as officially
    ("[1, 2, 3, 4]", (False, False, 0, 0)),  # a bare box
    (entry(), (False, False, 0, 0)),  # an object, not a list
    ("[" + entry() + ", 5]", (False, False, 0, 0)),  # a non-object entry
    ("Boxes: " + ONE, (False, False, 0, 0)),
    ("[" + entry(conf="None") + "]", (False, False, 0, 0)),  # Python literal
    ("[" + entry(conf="nan") + "]", (False, False, 0, 0)),  # Python literal
    ("[" + entry(conf="__import__('os')") + "]", (False, False, 0, 0)),  # never evaluated
    ("[" + entry(conf="NaN") + "]", (True, False, 1, 0)),
    ("[" + entry(conf="Infinity") + "]", (True, False, 1, 0)),
    ("[" + entry(conf="-Infinity") + "]", (True, False, 1, 0)),
    ("[" + entry(conf="1e999") + "]", (True, False, 1, 0)),
    ("[" + entry(conf="'0.9'") + "]", (True, False, 1, 0)),
    ("[" + entry(conf="true") + "]", (True, False, 1, 0)),
    ("[" + entry(conf="[0.9]") + "]", (True, False, 1, 0)),
    ("[{'Position': [1, 2, 3, 4]}]", (True, False, 1, 0)),  # no confidence
    ("[{'Confidence': 0.5}]", (True, False, 1, 0)),  # no position
    ("[" + entry("[1, 2, 3]") + "]", (True, False, 1, 0)),
    ("[" + entry("[1, 2, 3, 4, 5]") + "]", (True, False, 1, 0)),
    ("[" + entry("[3, 2, 3, 4]") + "]", (True, False, 1, 0)),  # x1 == x2
    ("[" + entry("[5, 2, 3, 4]") + "]", (True, False, 1, 0)),  # x1 > x2
    ("[" + entry("[1, 4, 3, 4]") + "]", (True, False, 1, 0)),  # y1 == y2
    ("[" + entry("[1, 2, 3, NaN]") + "]", (True, False, 1, 0)),
    ("[" + entry("[1, 2, 3, Infinity]") + "]", (True, False, 1, 0)),
    ("[" + entry("[1, 2, 3, '4']") + "]", (True, False, 1, 0)),
    ("[" + entry("'[1, 2, 3, 4]'") + "]", (True, False, 1, 0)),
    ("[" + entry("[[1, 2], [3, 4]]") + "]", (False, False, 0, 0)),  # [[ / ]] rewritten: broken, as officially
    ("[" + entry("[1, 2, 3, " + "9" * 400 + "]") + "]", (True, False, 1, 0)),  # beyond float range
    ("[{'position': [1, 2, 3, 4], 'confidence': 0.5}]", (True, False, 1, 0)),  # keys are case-sensitive
    ("[{'Position': [1, 2, 3, 4], 'Confidence': 0.5, 'Label': 'cat'}]", (True, False, 1, 1)),
    ("[" + ", ".join([entry()] * MAX_ENTRIES) + "]", (True, False, MAX_ENTRIES, MAX_ENTRIES)),
    ("[" + ", ".join([entry()] * (MAX_ENTRIES + 1)) + "]", (False, False, 0, 0)),  # over the cap
    ("[" * 100_000 + "]" * 100_000, (False, False, 0, 0)),  # deep nesting
    ("", (False, False, 0, 0)),
    ("cat", (False, False, 0, 0)),
    (None, (False, False, 0, 0)),
]


@pytest.mark.parametrize("answer, expected", DETECTION_CASES)
def test_parse_detection(answer, expected):
    p = parse_detection(answer)
    assert (p.ok, p.no_objects, len(p.boxes), sum(b.valid for b in p.boxes)) == expected


@pytest.mark.parametrize(
    "conf, parsed", [("0.25", 0.25), ("1", 1.0), ("0", 0.0), ("1.7", 1.0), ("-0.3", 0.0), ("1e5", 1.0)]
)
def test_confidence_is_clamped(conf, parsed):
    (b,) = parse_detection("[" + entry("[1, 2.5, 3, 4]", conf) + "]").boxes
    assert b == PredBox(position=(1.0, 2.5, 3.0, 4.0), confidence=parsed, valid=True)


def test_invalid_entry_keeps_the_valid_field():
    (b,) = parse_detection("[" + entry(conf="NaN") + "]").boxes
    assert b == PredBox(position=(1.0, 2.0, 3.0, 4.0), confidence=None, valid=False)
    (b,) = parse_detection("[" + entry("[3, 2, 1, 4]", "0.5") + "]").boxes
    assert b == PredBox(position=None, confidence=0.5, valid=False)


A, B = (0.0, 0.0, 10.0, 10.0), (20.0, 20.0, 30.0, 30.0)
BAD = PredBox(None, 0.9, False)


def pb(pos, conf):
    return PredBox(pos, conf, True)


@pytest.mark.parametrize(
    "boxes, kept",
    [
        ([pb(A, 0.3), pb(A, 0.8), pb(B, 0.5)], [pb(A, 0.3), pb(B, 0.5)]),  # the first occurrence stays
        ([pb(A, 0.8), pb(A, 0.3)], [pb(A, 0.8)]),
        ([pb(A, 0.5), pb(B, 0.5), pb(A, 0.5)], [pb(A, 0.5), pb(B, 0.5)]),
        ([BAD, BAD, pb(A, 0.1)], [BAD, BAD, pb(A, 0.1)]),
        ([], []),
    ],
)
def test_dedup_boxes(boxes, kept):
    assert dedup_boxes(tuple(boxes)) == tuple(kept)


def test_dedup_compares_numbers_not_text():
    p = parse_detection(
        "[" + entry("[1, 2, 3, 4]", "0.2") + ", " + entry("[1.0, 2.0, 3.0, 4.0]", "0.7") + "]"
    )
    assert dedup_boxes(p.boxes) == (pb((1.0, 2.0, 3.0, 4.0), 0.2),)


@pytest.mark.parametrize(
    "answer, box",
    [
        ("(10,20),(30,40)", (10, 20, 30, 40)),
        ("( 10 , 20 ) , ( 30 , 40 )", (10, 20, 30, 40)),
        ("(10.5,20),(30,40.25)", (10.5, 20, 30, 40.25)),
        ("The box is (1,2),(3,4) and (5,6),(7,8)", (1, 2, 3, 4)),
        ("(1,2),\n(3,4)", (1, 2, 3, 4)),
        ("(30,20),(10,40)", None),  # x1 > x2
        ("(10,20),(10,40)", None),  # x1 == x2
        ("(10,40),(30,40)", None),  # y1 == y2
        ("(30,20),(10,40) then (1,2),(3,4)", None),  # only the first pair counts
        ("(-10,20),(30,40)", None),
        ("[10, 20, 30, 40]", None),
        ("(10,20)", None),
        ("(1e5,2),(3,4)", None),
        ("(" + "9" * 400 + ",1),(" + "9" * 401 + ",2)", None),  # beyond float range
        ("", None),
        (None, None),
    ],
)
def test_parse_grounding(answer, box):
    assert parse_grounding(answer) == (None if box is None else tuple(float(v) for v in box))


@pytest.mark.parametrize(
    "solution, kind",
    [
        ("<answer>[{'Position': [64, 0, 950, 411], 'Confidence': 1}]</answer>", "detection"),
        ("<answer>No Objects</answer>", "detection"),
        ("<answer>[]</answer>", "detection"),
        ("[{'Position': [1, 2, 3, 4], 'Confidence': 1}]", "detection"),
        ("<answer>garden phlox</answer>", "classification"),
        ("garden phlox", "classification"),
        ("<answer> (10,20),(30,40) </answer>", "grounding"),
        ("(10,20),(30,40)", "grounding"),
    ],
)
def test_solution_kind(solution, kind):
    assert solution_kind(solution) == kind


@pytest.mark.parametrize(
    "a, b, iou, giou",
    [
        (A, A, 1.0, 1.0),
        ((0, 0, 10, 10), (5, 0, 15, 10), 1 / 3, 1 / 3),
        ((0, 0, 10, 10), (0, 0, 5, 5), 0.25, 0.25),
        ((0, 0, 10, 10), (10, 0, 20, 10), 0.0, 0.0),  # touching edges
        ((0, 0, 10, 10), (20, 0, 30, 10), 0.0, -1 / 3),
        ((0, 0, 1, 1), (99, 99, 100, 100), 0.0, -1 + 2 / 10_000),
        ((0, 0, 0, 0), (0, 0, 0, 0), 0.0, -1.0),  # degenerate: undefined
        ((0, 0, 1e200, 1e200), (0, 0, 1e200, 1e200), 0.0, -1.0),  # overflow: undefined
    ],
)
def test_box_iou_and_giou(a, b, iou, giou):
    assert box_iou(a, b) == pytest.approx(iou)
    assert box_iou(b, a) == pytest.approx(iou)
    assert box_giou(a, b) == pytest.approx(giou)
    assert math.isfinite(box_iou(a, b)) and math.isfinite(box_giou(a, b))


HALF = (0.0, 0.0, 10.0, 5.0)  # IoU with A is exactly 0.5
NEAR_A = (1.0, 0.0, 10.0, 10.0)  # IoU 0.9 with A
NEAR_AB = (0.0, 0.0, 30.0, 30.0)  # IoU 0.111 with A and with B


@pytest.mark.parametrize(
    "preds, gts, threshold, result",
    [
        # the higher confidence is matched first, whatever the order in the answer
        ([pb(A, 0.2), pb(A, 0.9)], [A], 0.5, [(1, 0, 1.0), (0, None, 0.0)]),
        # ties keep the answer's order (stable)
        ([pb(A, 0.5), pb(NEAR_A, 0.5)], [A], 0.5, [(0, 0, 1.0), (1, None, 0.0)]),
        # a confident worse box takes the ground truth from a better one (greedy, not optimal)
        ([pb(A, 0.4), pb(NEAR_A, 0.6)], [A], 0.5, [(1, 0, 0.9), (0, None, 0.0)]),
        # IoU exactly at the threshold is not a match (strictly greater)
        ([pb(HALF, 0.9)], [A], 0.5, [(0, None, 0.0)]),
        ([pb(HALF, 0.9)], [A], 0.49, [(0, 0, 0.5)]),
        # each prediction takes the best unmatched ground truth
        ([pb(NEAR_A, 0.9)], [B, A], 0.5, [(0, 1, 0.9)]),
        # an unmatched prediction leaves the ground truth free for a later one
        ([pb(NEAR_AB, 0.9), pb(B, 0.1)], [B], 0.5, [(0, None, 0.0), (1, 0, 1.0)]),
        # invalid predictions come last, unmatched
        ([BAD, pb(A, 0.1)], [A], 0.5, [(1, 0, 1.0), (0, None, 0.0)]),
        ([pb(A, 0.9)], [], 0.5, [(0, None, 0.0)]),
        ([], [A], 0.5, []),
    ],
)
def test_match_boxes(preds, gts, threshold, result):
    got = match_boxes(preds, gts, iou_threshold=threshold)
    assert [(i, j) for i, j, _ in got] == [(i, j) for i, j, _ in result]
    assert [v for *_, v in got] == pytest.approx([v for *_, v in result])
