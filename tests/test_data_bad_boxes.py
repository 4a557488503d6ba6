"""Bad detection data: a non-finite, negative-size or wholly outside box and an image path leaving the image folder
stop the read with one line naming the file and record, or (data.skip_bad=true) drop that query or image and count
it; a box reaching past its image is clipped to the image's edges and counted."""

from __future__ import annotations

import json
import logging

import pytest

from tests.test_data_readers_detection import _hand_coco, _summary
from vrft.data.coco import read_detection
from vrft.errors import DataError
from vrft.evaluation.runner import subset_gt

BAD = {  # annotation 1 (image 42, a 40x30 image, category dog) made bad
    "nan": ([float("nan"), 2, 10, 5], "not a finite number"),
    "negative width": ([1, 2, -10, 5], "negative width or height"),
    "wholly outside": ([100, 2, 10, 5], "wholly outside its 40x30 image"),
}


def mutated(tmp_path, mutate):
    ann, images = _hand_coco(tmp_path)
    data = json.loads(ann.read_text())
    mutate(data)
    ann.write_text(
        json.dumps(data)
    )  # NaN is written as the bare token NaN, which json (and COCO dumps) read back
    return ann, images


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_box_is_one_line_naming_file_and_annotation(tmp_path, case):
    bbox, why = BAD[case]
    ann, images = mutated(tmp_path, lambda d: d["annotations"][0].update(bbox=bbox))
    with pytest.raises(DataError) as err:
        read_detection(ann, images, ["dog", "person", "car"])
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{ann}: annotation 1 (image 42) has bbox ") and why in msg
    assert "data.skip_bad=true" in msg


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_box_under_skip_bad_drops_the_query_and_counts_it(tmp_path, case, caplog):
    ann, images = mutated(tmp_path, lambda d: d["annotations"][0].update(bbox=BAD[case][0]))
    with caplog.at_level(logging.WARNING):
        records = read_detection(ann, images, ["dog", "person", "car"], query="all", skip_bad=True)
    assert (42, "dog") not in {(r.image_id, r.category) for r in records}  # not trained as "No Objects"
    assert len(records) == 5
    assert any("skipped 1 bad annotations or images" in r.getMessage() for r in caplog.records)


def test_box_past_the_edge_is_clipped_and_counted(tmp_path, caplog):
    ann, images = mutated(tmp_path, lambda d: d["annotations"][0].update(bbox=[-3, 25, 10, 10]))
    with caplog.at_level(logging.WARNING):
        records = read_detection(ann, images, ["dog"])
    assert _summary(records)[0][3][0] == (0.0, 25.0, 7.0, 30.0)
    assert any("clipped 1 boxes" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("name", ["../secret.jpg", "/etc/passwd", "sub/../../x.jpg"])
def test_image_path_outside_the_image_folder(tmp_path, name, caplog):
    ann, images = mutated(tmp_path, lambda d: d["images"][0].update(file_name=name))
    with pytest.raises(DataError) as err:
        read_detection(ann, images, ["dog", "person", "car"])
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{ann}: images[0] (id 42) names image {name!r}, outside")
    with caplog.at_level(logging.WARNING):
        records = read_detection(ann, images, ["dog", "person", "car"], skip_bad=True)
    assert {r.image_id for r in records} == {7}
    assert any("skipped 1 bad" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("case", sorted(BAD))
def test_held_out_ground_truth_leaves_out_the_skipped_query(tmp_path, case):
    """Evaluation's ground truth drops every box of a query skipped for a bad box (it was never asked), so mAP does
    not count its other, good boxes as misses; the image's other queries keep theirs."""
    ann, images = mutated(tmp_path, lambda d: d["annotations"][0].update(bbox=BAD[case][0]))
    records = read_detection(ann, images, ["dog", "person", "car"], query="all", skip_bad=True)
    assert 42 in {r.image_id for r in records}  # its person and car queries are still asked
    gt = subset_gt(ann, {r.image_id for r in records})
    assert {(a["image_id"], a["category_id"]) for a in gt["annotations"]} == {(42, 1), (7, 3), (7, 1)}
