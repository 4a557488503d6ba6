"""The perception rewards beyond the paper's: `map` against pycocotools, `count`, Hungarian matching against a
brute-force loop, the dynamic IoU threshold, and the known hacks for each."""

import contextlib
import io
import itertools
import math
import random

import pytest

from vrft.errors import ConfigError
from vrft.rewards import REWARDS, confidence_reward, count_reward, iou_reward, map_reward
from vrft.rewards.boxes import box_iou, match_boxes, match_boxes_hungarian
from vrft.rewards.detection import dynamic_iou_threshold
from vrft.rewards.parse import PredBox


def wrap(answer):
    return f"<think>r</think><answer>{answer}</answer>"


def boxes(*entries):
    return "[" + ", ".join(f"{{'Position': {list(p)}, 'Confidence': {c}}}" for p, c in entries) + "]"


def sol(*gts):
    return f"<answer>{boxes(*[(g, 1) for g in gts]) if gts else 'No Objects'}</answer>"


G1, G2 = (0, 0, 100, 100), (200, 200, 300, 300)
SHIFT = (10, 0, 110, 100)  # IoU 9/11 with G1
FAR = (500, 500, 510, 510)


# ---------------------------------------------------------------- map against pycocotools


def coco_ap(preds, gts):
    """AP@[.50:.95] of one image, one category, by pycocotools (the reference `map` must equal)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b):
        return [b[0], b[1], b[2] - b[0], b[3] - b[1]]

    gt = COCO()
    gt.dataset = {
        "images": [{"id": 1, "width": 1000, "height": 1000}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [
            {
                "id": k + 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": xywh(g),
                "area": xywh(g)[2] * xywh(g)[3],
                "iscrowd": 0,
            }
            for k, g in enumerate(gts)
        ],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes([{"image_id": 1, "category_id": 1, "bbox": xywh(p), "score": c} for p, c in preds])
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[0]


def random_case(rng):
    gts = []
    for _ in range(rng.randint(1, 4)):
        x, y = rng.randint(0, 600), rng.randint(0, 600)
        gts.append((x, y, x + rng.randint(20, 200), y + rng.randint(20, 200)))
    preds = []
    for g in gts:  # near hits at varied IoU, some twice
        for _ in range(rng.choice([0, 1, 1, 2])):
            d = [rng.randint(-25, 25) for _ in range(4)]
            p = (g[0] + d[0], g[1] + d[1], g[2] + d[2], g[3] + d[3])
            if p[0] < p[2] and p[1] < p[3]:
                preds.append((p, round(rng.random(), 2)))
    for _ in range(rng.randint(0, 2)):  # false positives
        x, y = rng.randint(0, 800), rng.randint(0, 800)
        preds.append(((x, y, x + 30, y + 30), round(rng.random(), 2)))
    rng.shuffle(preds)
    return preds, gts


@pytest.mark.parametrize("seed", range(40))
def test_map_equals_pycocotools_on_one_image(seed):
    preds, gts = random_case(random.Random(seed))
    if not preds:
        preds = [((0, 0, 10, 10), 0.5)]
    got = map_reward([wrap(boxes(*preds))], solution=[sol(*gts)])[0]
    assert got == pytest.approx(coco_ap(preds, gts), abs=1e-12)


def test_map_keeps_the_100_most_confident_boxes_as_pycocotools():
    gts = [(i * 10, 0, i * 10 + 8, 8) for i in range(3)]
    preds = [((500 + i, 500, 510 + i, 510), 0.9) for i in range(100)] + [(g, 0.1) for g in gts]
    got = map_reward([wrap(boxes(*preds))], solution=[sol(*gts)])[0]
    assert got == pytest.approx(coco_ap(preds, gts), abs=1e-12) and got == 0.0


# completion, solution, map
MAP = [
    (wrap(boxes((G1, 0.9))), sol(G1), 1.0),
    (wrap(boxes((G1, 0.9), (G2, 0.8))), sol(G1, G2), 1.0),
    (wrap("No Objects"), sol(), 1.0),  # truth "No Objects", no box: 1
    (wrap("[]"), sol(), 1.0),
    (wrap(boxes((G1, 0.9))), sol(), 0.0),  # truth "No Objects", a box: 0
    (wrap("No Objects"), sol(G1), 0.0),  # truth boxes, no box: 0
    (wrap("[{'Position': [0, 0, 100, 100], 'Confidence': 0.9"), sol(G1), 0.0),  # truncated: does not parse
    ("no answer block", sol(G1), 0.0),
    (wrap(boxes((G1, "NaN"))), sol(G1), 0.0),  # NaN confidence: not a detection
    (wrap(boxes((G1, 0.9), (G1, "NaN"))), sol(G1), 1.0),  # an invalid entry changes nothing
]


@pytest.mark.parametrize("completion, solution, expected", MAP)
def test_map_table(completion, solution, expected):
    assert map_reward([completion], solution=[solution]) == [pytest.approx(expected)]


# ---------------------------------------------------------------- count

COUNT = [
    (wrap(boxes((G1, 0.9))), sol(G1), 1.0),
    (wrap(boxes((FAR, 0.9))), sol(G1), 1.0),  # count only: where the box is does not matter
    (wrap(boxes((G1, 0.9), (G2, 0.9))), sol(G1), 0.6),
    (wrap(boxes((G1, 0.9))), sol(G1, G2, FAR), 0.36),
    (wrap("No Objects"), sol(), 1.0),
    (wrap("No Objects"), sol(G1, G2), 0.36),
    (wrap(boxes((G1, 0.9))), sol(), 0.6),
    (wrap("[{'Position': [0, 0"), sol(G1), 0.0),  # unparseable
    (wrap(""), sol(G1), 0.0),  # empty answer
    ("<answer>No Objects", sol(), 0.0),  # no closed answer block
    (wrap(boxes((G1, 0.9), (G1, 0.9))), sol(G1), 1.0),  # an identical duplicate counts once, as in `iou`
    (wrap(boxes((G1, 0.9), (G1, "NaN"))), sol(G1), 1.0),  # an invalid entry is not a box
    (wrap("[{}, {}]"), sol(G1, G2), 0.36),  # empty entries cannot pass for objects
]


@pytest.mark.parametrize("completion, solution, expected", COUNT)
def test_count_table(completion, solution, expected):
    assert count_reward([completion], solution=[solution]) == [pytest.approx(expected)]


# ---------------------------------------------------------------- hacks: map, count, hungarian iou

HACK_REWARDS = [
    ("map", {}),
    ("count", {}),
    ("iou", {"matching": "hungarian"}),
    ("confidence", {"matching": "hungarian"}),
    ("iou", {"iou_schedule": "dynamic", "progress": [0.5]}),
]


def score(name, kwargs, completion, solution):
    return REWARDS.get(name)([completion], solution=[solution], **kwargs)[0]


@pytest.mark.parametrize("name, kwargs", HACK_REWARDS)
def test_duplicates_do_not_raise_the_score(name, kwargs):
    honest = score(name, kwargs, wrap(boxes((G1, 0.9))), sol(G1))
    for dup in (boxes((G1, 0.9), (G1, 0.9)), boxes((G1, 0.9), (G1, 0.8), (SHIFT, 0.7))):
        assert score(name, kwargs, wrap(dup), sol(G1)) <= honest


# `confidence` is left out: the paper's rule credits 1 - c for each unmatched box, so low-confidence padding raises
# it under either matching (the hardened and official sets alike; `iou` in the same sum charges for it)
@pytest.mark.parametrize("name, kwargs", [h for h in HACK_REWARDS if h[0] != "confidence"])
def test_junk_boxes_do_not_raise_the_score(name, kwargs):
    honest = score(name, kwargs, wrap(boxes((G1, 0.9))), sol(G1))
    junk = [(G1, 0.9)] + [((500 + 20 * i, 0, 510 + 20 * i, 10), 0.05) for i in range(30)]
    got = score(name, kwargs, wrap(boxes(*junk)), sol(G1))
    # COCO AP does not see false positives ranked below every true positive (pycocotools agrees): for `map` the
    # low-confidence padding is free, which `count` (or `iou`'s / max(n, m)) is there to charge for
    assert got == pytest.approx(honest) if name == "map" else got < honest
    confident_junk = [(G1, 0.5)] + [((500 + 20 * i, 0, 510 + 20 * i, 10), 0.9) for i in range(30)]
    assert score(name, kwargs, wrap(boxes(*confident_junk)), sol(G1)) < honest


@pytest.mark.parametrize("name, kwargs", HACK_REWARDS)
@pytest.mark.parametrize(
    "answer", ["", "No Objects", "[]", "[{}]", "NaN", "[{'Position': 'NaN', 'Confidence': NaN}]"]
)
def test_empty_and_nan_answers_score_zero_against_boxes(name, kwargs, answer):
    assert score(name, kwargs, wrap(answer), sol(G1, G2)) <= (0.36 if name == "count" else 0.0)


@pytest.mark.parametrize("name, kwargs", HACK_REWARDS)
def test_a_huge_list_scores_zero(name, kwargs):
    huge = wrap(boxes(*[((i, 0, i + 10, 10), 0.5) for i in range(20_000)]))
    assert score(name, kwargs, huge, sol(G1)) == 0.0


# ---------------------------------------------------------------- hungarian matching


def brute_force(preds, gts, t):
    """The largest total IoU over one-to-one pairs with IoU > t: every injection tried (loop reference)."""
    best = 0.0
    n, m = len(preds), len(gts)
    for perm in itertools.permutations(range(max(n, m)), n):
        total = sum(
            box_iou(preds[i].position, gts[j])
            for i, j in enumerate(perm)
            if j < m and box_iou(preds[i].position, gts[j]) > t
        )
        best = max(best, total)
    return best


def pred(p, c=0.5):
    return PredBox(position=p, confidence=c, valid=True)


@pytest.mark.parametrize("seed", range(30))
def test_hungarian_equals_the_brute_force_optimum(seed):
    rng = random.Random(seed)
    preds_raw, gts = random_case(rng)
    preds = [pred(p, c) for p, c in preds_raw[:5]]
    for t in (0.0, 0.5, 0.75):
        out = match_boxes_hungarian(preds, gts, t)
        got = sum(iou for _, j, iou in out if j is not None)
        assert got == pytest.approx(brute_force(preds, gts, t))
        matched = [j for _, j, _ in out if j is not None]
        assert len(matched) == len(set(matched))  # one-to-one
        greedy = sum(iou for _, j, iou in match_boxes(preds, gts, t) if j is not None)
        assert got >= greedy - 1e-12


def test_hungarian_beats_greedy_where_greedy_takes_the_wrong_box():
    # the confident prediction overlaps both truths and takes A first; the other fits only A
    a, b = (0, 0, 100, 100), (60, 0, 160, 100)
    p1, p2 = (30, 0, 130, 100), (0, 0, 95, 100)
    completion = wrap(boxes((p1, 0.9), (p2, 0.8)))
    greedy = iou_reward([completion], solution=[sol(a, b)], iou_threshold=0.3)[0]
    hungarian = iou_reward([completion], solution=[sol(a, b)], iou_threshold=0.3, matching="hungarian")[0]
    expected = (box_iou(p1, b) + box_iou(p2, a)) / 2
    assert hungarian == pytest.approx(expected) and greedy < hungarian
    assert confidence_reward([completion], solution=[sol(a, b)], iou_threshold=0.3, matching="hungarian") == [
        pytest.approx((0.9 + 0.8) / 2)
    ]


def test_greedy_stays_the_default():
    completion = wrap(boxes((G1, 0.5), (SHIFT, 0.9)))
    assert iou_reward([completion], solution=[sol(G1)]) == iou_reward(
        [completion], solution=[sol(G1)], matching="greedy"
    )
    assert iou_reward([completion], solution=[sol(G1)]) == [pytest.approx((9 / 11) / 2)]


def test_bad_matching_is_a_config_error():
    with pytest.raises(ConfigError, match="matching"):
        iou_reward([wrap("[]")], solution=[sol()], matching="optimal")


# ---------------------------------------------------------------- dynamic IoU threshold


@pytest.mark.parametrize(
    "progress, threshold", [(0.0, 0.85), (0.099, 0.85), (0.1, 0.95), (0.249, 0.95), (0.25, 0.99), (1.0, 0.99)]
)
def test_dynamic_threshold_follows_v_triune(progress, threshold):
    assert dynamic_iou_threshold(progress) == threshold


def test_dynamic_threshold_is_read_per_completion_from_the_progress_column():
    shifted = (2, 0, 102, 100)  # IoU 0.96 with G1
    iou = box_iou(shifted, G1)
    out = iou_reward(
        [wrap(boxes((shifted, 0.9)))] * 3,
        solution=[sol(G1)] * 3,
        iou_schedule="dynamic",
        progress=[0.0, 0.2, 0.9],
    )
    assert out == [pytest.approx(iou), pytest.approx(iou), 0.0]


def test_dynamic_threshold_without_progress_is_a_config_error():
    with pytest.raises(ConfigError, match="progress"):
        iou_reward([wrap("[]")], solution=[sol()], iou_schedule="dynamic")
    with pytest.raises(ConfigError, match="iou_schedule"):
        iou_reward([wrap("[]")], solution=[sol()], iou_schedule="cosine")
    with pytest.raises(ValueError, match="progress"):
        iou_reward([wrap("[]")], solution=[sol()], iou_schedule="dynamic", progress=[math.nan])


def test_the_official_set_refuses_what_only_the_hardened_set_has():
    from vrft.rewards import reward_set

    official = reward_set("official")
    assert "map" not in official and "count" not in official
    with pytest.raises(ConfigError, match="compat=hardened"):
        official.get("iou")([wrap("[]")], solution=[sol()], matching="hungarian")
    with pytest.raises(ConfigError, match="compat=hardened"):
        official.get("confidence")([wrap("[]")], solution=[sol()], iou_schedule="dynamic")
    assert (
        len(official.get("iou")([wrap("[]")], solution=[sol()], matching="greedy", iou_schedule="fixed")) == 1
    )


def test_grpo_scoring_passes_the_training_progress_as_a_column():
    from vrft.grpo.scoring import repeat_columns

    cols = repeat_columns({"solution": ["a", "b"], "kind": ["detection"] * 2}, group_size=3, progress=0.4)
    assert cols["progress"] == [0.4] * 6 and len(cols["solution"]) == 6
    assert repeat_columns({"solution": ["a"]}, 2, progress=1.7)["progress"] == [1.0, 1.0]
