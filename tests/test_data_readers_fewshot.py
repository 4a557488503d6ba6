"""Few-shot sampler: per-class counts, determinism, order independence, nesting, detection shots, errors."""

from __future__ import annotations

import logging
import random
from collections import Counter

import pytest

from vrft.config import SplitCfg, TaskCfg, check_task
from vrft.data.coco import read_detection
from vrft.data.fewshot import queries_of_shot_images, sample_shots
from vrft.data.records import ClassificationRecord, DetectionRecord, GroundingRecord
from vrft.data.standins import write_coco
from vrft.data.tasks import build_task_data
from vrft.errors import ConfigError, DataError
from vrft.models.codec import Norm1000Codec


def _cls_records(per_class: dict[str, int]) -> list[ClassificationRecord]:
    return [
        ClassificationRecord(f"/img/{name}_{k}.jpg", name, i, f"{name}_{k}")
        for i, (name, n) in enumerate(per_class.items())
        for k in range(n)
    ]


POOL = _cls_records({"707-320": 20, "great_pyrenees": 12, "pink primrose": 9})


@pytest.mark.parametrize("shots", [1, 2, 4, 8])
def test_classification_counts_per_class(shots):
    picked = sample_shots(POOL, shots, seed=0)
    assert Counter(r.label for r in picked) == {
        "707-320": shots,
        "great_pyrenees": shots,
        "pink primrose": shots,
    }
    assert len({r.image_id for r in picked}) == len(picked)  # no record twice
    assert all(r in POOL for r in picked)


def test_deterministic_order_independent_and_seed_dependent():
    a = sample_shots(POOL, 4, seed=7)
    shuffled = POOL[:]
    random.Random(1).shuffle(shuffled)
    assert sample_shots(shuffled, 4, seed=7) == a
    assert sample_shots(list(reversed(POOL)), 4, seed=7) == a
    assert sample_shots(POOL, 4, seed=8) != a


def test_shots_nest_and_classes_are_drawn_independently():
    for k in (1, 2, 4):
        small = {r.image_id for r in sample_shots(POOL, k, seed=3)}
        assert small <= {r.image_id for r in sample_shots(POOL, 2 * k, seed=3)}
    alone = sample_shots([r for r in POOL if r.label == "great_pyrenees"], 4, seed=3)
    assert alone == [r for r in sample_shots(POOL, 4, seed=3) if r.label == "great_pyrenees"]


def test_spread_over_seeds_is_not_degenerate():
    firsts = Counter(sample_shots(POOL, 1, seed=s)[0].image_id for s in range(60))
    assert len(firsts) >= 10  # different seeds pick different images


def test_not_enough_shots_raises_or_falls_back(caplog):
    with pytest.raises(
        DataError, match=r"1 classes have fewer than shots=10 examples: 'pink primrose' \(9\)"
    ):
        sample_shots(POOL, 10, seed=0)
    with caplog.at_level(logging.WARNING):
        picked = sample_shots(POOL, 10, seed=0, allow_fewer=True)
    assert Counter(r.label for r in picked)["pink primrose"] == 9
    assert "fewer than 10 shots" in caplog.text


def test_classes_restrict_and_require():
    picked = sample_shots(POOL, 2, seed=0, classes=["pink primrose"])
    assert {r.label for r in picked} == {"pink primrose"} and len(picked) == 2
    with pytest.raises(DataError, match=r"'omelet' \(0\)"):
        sample_shots(POOL, 2, seed=0, classes=["pink primrose", "omelet"])


@pytest.mark.parametrize("shots", [0, -1, 1.5])
def test_bad_shots_and_empty_input(shots):
    with pytest.raises(ConfigError, match="shots must be a positive integer"):
        sample_shots(POOL, shots, seed=0)
    with pytest.raises(DataError, match="no records"):
        sample_shots([], 1, seed=0)


def test_key_function_and_records_without_a_class():
    g = [GroundingRecord(f"/i/{k}.jpg", str(k), 10, 10, "the cup", (0, 0, 1, 1)) for k in range(5)]
    with pytest.raises(ConfigError, match="needs a key function for GroundingRecord"):
        sample_shots(g, 1, seed=0)
    assert len(sample_shots(g, 3, seed=0, key=lambda r: "all")) == 3


def _det(image_id: int, category: str, n_boxes: int) -> DetectionRecord:
    return DetectionRecord(f"/i/{image_id}.jpg", image_id, 10, 10, 1, category, ((0, 0, 1, 1),) * n_boxes)


def test_detection_images_are_shots_of_each_category_they_carry():
    records = [_det(1, "cat", 1), _det(1, "dog", 2), _det(2, "cat", 1), _det(3, "dog", 1), _det(4, "dog", 0)]
    picked = sample_shots(records, 2, seed=0)
    assert sorted((r.image_id, r.category) for r in picked) == [
        (1, "cat"),
        (1, "dog"),
        (2, "cat"),
        (3, "dog"),
    ]
    with pytest.raises(DataError, match=r"'cat' \(2\), 'dog' \(2\)"):  # image 4 has no dog box: not a shot
        sample_shots(records, 3, seed=0)


def test_detection_standin_k_images_per_category(tmp_path):
    cats = ["bus", "train", "cat", "dog"]
    ann, images = write_coco(tmp_path, 40, cats, seed=0)
    records = read_detection(ann, images, cats, query="all")
    for shots in (1, 4, 8):
        picked = sample_shots(records, shots, seed=11)
        assert Counter(r.category for r in picked) == dict.fromkeys(cats, shots)
        assert all(r.boxes for r in picked)
        assert sample_shots(list(reversed(records)), shots, seed=11) == picked


def test_queries_of_shot_images_add_the_other_and_absent_categories_of_each_shot_image():
    records = [_det(1, "cat", 1), _det(1, "dog", 0), _det(2, "cat", 0), _det(2, "dog", 1), _det(3, "cat", 1)]
    shots = sample_shots(records, 1, seed=0)
    wide = queries_of_shot_images(records, shots)
    images = {r.image_id for r in shots}
    assert wide == [r for r in records if r.image_id in images]
    assert {(r.image_id, r.category) for r in shots} < {(r.image_id, r.category) for r in wide}
    assert any(not r.boxes for r in wide)  # absent categories of a shot image are negative queries


def _task(ann, images, train_query: str, cats: list[str]) -> TaskCfg:
    split = dict(reader="coco", path=str(ann), images=str(images))
    return TaskCfg(
        name="t",
        shots=2,
        categories=cats,
        query="all",
        train_query=train_query,
        train=SplitCfg(**split, split="train"),
        test=SplitCfg(**split, split="test"),
    )


def test_train_query_all_asks_every_category_of_the_same_shot_images(tmp_path):
    cats = ["bus", "train", "cat", "dog"]
    ann, images = write_coco(tmp_path, 30, cats, seed=0)
    codec = Norm1000Codec()
    gt = build_task_data(_task(ann, images, "gt", cats), codec, seed=3, skip_bad=False, max_test=None)
    wide = build_task_data(_task(ann, images, "all", cats), codec, seed=3, skip_bad=False, max_test=None)
    key = lambda row: (row["image"], row["problem"])  # noqa: E731
    shot_images = {row["image"] for row in gt.train_rows}
    assert {row["image"] for row in wide.train_rows} == shot_images  # the same images, no new ones
    assert {key(r) for r in gt.train_rows} <= {key(r) for r in wide.train_rows}
    assert len(wide.train_rows) == len(shot_images) * len(cats)  # every category asked of every shot image
    assert sum("No Objects" in r["solution"] for r in wide.train_rows) > 0
    assert not any("No Objects" in r["solution"] for r in gt.train_rows)


def test_train_query_all_needs_a_detection_split():
    task = TaskCfg(name="t", family="classification", train_query="all", train=SplitCfg(reader="coop_split"))
    with pytest.raises(ConfigError, match=r"task.train_query.*coop_split"):
        check_task(task)


@pytest.mark.parametrize("ratio", [0.0, 0.5, 1.0])
def test_train_negatives_thin_the_absent_queries_per_positive(ratio):
    records = [
        _det(i, c, int(c == "cat" or (i % 2 and c == "dog")))
        for i in range(1, 9)
        for c in ["cat", "dog", "bus", "car"]
    ]
    shots = sample_shots(records, 4, seed=0)
    wide = queries_of_shot_images(records, [r for r in shots if r.boxes], ratio, seed=1)
    for image in {r.image_id for r in wide}:
        pos = sum(bool(r.boxes) for r in wide if r.image_id == image)
        neg = sum(not r.boxes for r in wide if r.image_id == image)
        assert pos == sum(bool(r.boxes) for r in records if r.image_id == image)  # every positive kept
        assert int(ratio * pos) <= neg <= int(ratio * pos) + 1
    assert wide == queries_of_shot_images(records, shots, ratio, seed=1)  # deterministic by seed
