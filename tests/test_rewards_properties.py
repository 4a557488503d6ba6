"""Property-based checks: random and mutated completions never make a reward raise, and stay in range."""

import importlib.util
import json
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vrft.rewards import reward_set
from vrft.rewards.format import FORMAT_PATTERN, format_score
from vrft.rewards.monitors import hack_monitors
from vrft.rewards.parse import (
    PredBox,
    box_giou,
    box_iou,
    dedup_boxes,
    extract_answer,
    match_boxes,
    parse_detection,
)

RANGES = {
    "format": (0.0, 1.0),
    "accuracy": (0.0, 1.0),
    "iou": (0.0, 1.0),
    "confidence": (0.0, 1.0),
    "giou": (0.0, 2.0),
    "map": (0.0, 1.0),
    "count": (0.0, 1.0),
}
SOLUTIONS = [
    "<answer>[{'Position': [0, 0, 100, 100], 'Confidence': 1}, {'Position': [200, 200, 300, 300], 'Confidence': 1}]</answer>",
    "<answer>No Objects</answer>",
    "<answer>garden phlox</answer>",
    "<answer> (0,0),(10,10) </answer>",
]
SEED = (
    "<think>The cat is on the left.</think>\n<answer>[{'Position': [0, 0, 100, 100], 'Confidence': 0.9},"
    " {'Position': [200, 200, 300, 300], 'Confidence': 0.5}] (0,0),(10,10) garden phlox</answer>"
)
TOKENS = [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "'",
    '"',
    ",",
    ":",
    "NaN",
    "Infinity",
    "-Infinity",
    "nan",
    "None",
    "1e999",
    "-1",
    "0.5",
    "'Position'",
    "'Confidence'",
    "No Objects",
    "(",
    ")",
    "\n",
    " ",
    "_",
    "9" * 50,
]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# compat=official keeps the official code's bugs: a NaN confidence, GIoU + 1 beyond [0, 2] for reversed boxes
OFFICIAL_RANGES = {
    **{k: v for k, v in RANGES.items() if k not in ("map", "count")},  # no official counterpart
    "giou": (-math.inf, math.inf),
}


def check_all(completions, solutions, compat="hardened"):
    ranges = RANGES if compat == "hardened" else OFFICIAL_RANGES
    for name, (lo, hi) in ranges.items():
        out = reward_set(compat).get(name)(
            completions, solution=solutions, extra_column=[0] * len(completions)
        )
        assert len(out) == len(completions)
        for v in out:
            if compat == "official" and name == "confidence" and isinstance(v, float) and math.isnan(v):
                continue
            assert v is None or (isinstance(v, float) and math.isfinite(v) and lo <= v <= hi), (name, v)
    for v in hack_monitors(completions, solutions).values():
        assert math.isfinite(v)


@st.composite
def mutated(draw):
    text = SEED
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 20)))
        insert = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=5)))
        text = text[:i] + (insert if draw(st.booleans()) else "") + text[j:]
    return text


content = st.one_of(st.text(max_size=200), mutated())
completion = st.one_of(
    content,
    content.map(lambda t: [{"role": "assistant", "content": t}]),
    content.map(
        lambda t: [{"role": "assistant", "content": [{"type": "text", "text": t}, {"type": "image"}]}]
    ),
    st.sampled_from([None, 3, [], {}, [{"role": "assistant"}], [{"content": 5}]]),
)


@FAST
@given(st.lists(st.tuples(completion, st.sampled_from(SOLUTIONS)), min_size=1, max_size=4))
def test_random_and_mutated_completions(pairs):
    completions, solutions = zip(*pairs, strict=True)
    check_all(list(completions), list(solutions))


@FAST
@given(st.lists(st.tuples(st.text(max_size=60), mutated()), min_size=1, max_size=3))
def test_random_solutions(pairs):
    completions, sols = zip(*pairs, strict=True)
    check_all(list(completions), [f"<answer>{s}</answer>" for s in sols])


OFFICIAL = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.skipif(
    importlib.util.find_spec("math_verify") is None, reason="compat=official needs math-verify"
)
@OFFICIAL
@given(
    st.lists(st.tuples(completion, st.sampled_from(SOLUTIONS)), min_size=1, max_size=3),
    st.lists(st.tuples(st.text(max_size=60), mutated()), min_size=1, max_size=2),
)
def test_official_mode_never_raises_and_stays_in_its_ranges(pairs, solution_pairs):
    completions, solutions = zip(*pairs, strict=True)
    check_all(list(completions), list(solutions), compat="official")
    completions, sols = zip(*solution_pairs, strict=True)
    check_all(list(completions), [f"<answer>{s}</answer>" for s in sols], compat="official")


number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**400), 10**400),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
)
raw_entry = st.dictionaries(
    st.sampled_from(["Position", "Confidence", "Label"]),
    st.one_of(number, st.lists(number, min_size=3, max_size=5)),
)
near = st.one_of(st.integers(-10, 320), st.floats(-10, 320))  # around the solution boxes, so matches happen
box_entry = st.fixed_dictionaries(
    {
        "Position": st.one_of(
            st.tuples(near, near, near, near).map(
                lambda b: [min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])]
            ),
            st.sampled_from([[0, 0, 100, 100], [200, 200, 300, 300], [10, 0, 110, 100]]),
            st.lists(number, min_size=4, max_size=4),
        ),
        "Confidence": st.one_of(st.floats(-3, 3), st.sampled_from([0, 1, 0.5]), number),
    }
)


@FAST
@given(st.lists(st.one_of(box_entry, box_entry, raw_entry), max_size=8), st.sampled_from(SOLUTIONS[:2]))
def test_structured_detection_answers(entries, solution):
    text = json.dumps(entries)  # writes NaN / Infinity / huge ints as JSON-ish literals
    check_all(
        [f"<think>t</think><answer>{text}</answer>", f"<answer>{text.replace(chr(34), chr(39))}</answer>"],
        [solution] * 2,
    )


coord = st.floats(-1e6, 1e6, allow_nan=False)
box = st.tuples(coord, coord, coord, coord).map(
    lambda b: (min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3]))
)


@FAST
@given(box, box)
def test_box_helpers_ranges(a, b):
    iou, giou = box_iou(a, b), box_giou(a, b)
    assert 0.0 <= iou <= 1.0 and -1.0 <= giou <= 1.0
    assert box_iou(b, a) == iou
    assert giou <= iou + 1e-9


@FAST
@given(st.lists(st.tuples(box, st.floats(0, 1)), max_size=6), st.lists(box, max_size=4))
def test_matching_is_one_to_one_and_duplicates_do_not_change_the_score(preds, gts):
    pbs = tuple(PredBox(p, c, p[0] < p[2] and p[1] < p[3]) for p, c in preds)
    result = match_boxes(pbs, gts)
    assert sorted(i for i, _, _ in result) == list(range(len(pbs)))
    matched = [j for _, j, _ in result if j is not None]
    assert len(matched) == len(set(matched))
    assert all(v > 0.5 for _, j, v in result if j is not None)
    if pbs and pbs[0].valid:  # a lower-confidence copy of a valid box is removed by dedup
        extra = PredBox(pbs[0].position, pbs[0].confidence / 2, True)
        assert dedup_boxes(pbs + (extra,)) == dedup_boxes(pbs)


def test_parse_detection_round_trip():
    text = "[{'Position': [1, 2, 3, 4], 'Confidence': 0.25}]"
    assert parse_detection(text).boxes == (PredBox((1.0, 2.0, 3.0, 4.0), 0.25, True),)


tag_soup = st.lists(
    st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", " ", "\n", "\t", "a", "<", ">", "/"]),
    max_size=14,
).map("".join)


templated = st.tuples(
    st.sampled_from(["<think>", " <think>", "\n<think>", "x<think>", ""]),
    tag_soup,
    st.sampled_from(
        ["</think><answer>", "</think> \n<answer>", "</think>a<answer>", "</think>", "<answer>", ""]
    ),
    tag_soup,
    st.sampled_from(["</answer>", "</answer> \n", "</answer>x", "", "<answer>"]),
).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(tag_soup, templated))
def test_linear_parsers_agree_with_the_official_regexes(text):
    """`format_score` and `extract_answer` avoid the regexes' quadratic backtracking but accept the same strings."""
    official = re.fullmatch(FORMAT_PATTERN, text.strip(), re.DOTALL)
    assert format_score(text) == (1.0 if official else 0.0)
    m = re.search(r"<answer>(.*?)</answer>", text, re.DOTALL)
    assert extract_answer(text) == (m.group(1).strip() if m else None)
