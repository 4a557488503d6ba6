"""Bad records in the classification and ReasonSeg readers (the COCO/LVIS ones: test_data_bad_boxes.py): each bad
record, written in the real on-disk format, stops the read with one line naming the file and record, or
(data.skip_bad=true) is skipped and counted; a ReasonSeg box reaching past its image is clipped and counted."""

from __future__ import annotations

import json
import logging

import pytest

from tests.test_data_readers_classification import _hand_coop, _hand_fgvc
from tests.test_data_readers_grounding import HAND, _item
from vrft.config import SplitCfg
from vrft.data.classification import read_classification
from vrft.data.reasonseg import read_reasonseg
from vrft.data.tasks import READERS
from vrft.errors import DataError

OUTSIDE = ["../secret.jpg", "/etc/passwd", "sub/../../x.jpg", "C:\\data\\x.jpg", "https://example.com/x.jpg"]


def _one_line(err: pytest.ExceptionInfo, start: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(start), msg
    assert "data.skip_bad=true" in msg
    return msg


@pytest.mark.parametrize("name", OUTSIDE)
def test_coop_image_path_outside_the_image_folder(tmp_path, name, caplog):
    root = _hand_coop(tmp_path)
    split_file = root / "split_zhou_OxfordFlowers.json"
    data = json.loads(split_file.read_text())
    data["train"].insert(1, [name, 0, "pink primrose"])
    split_file.write_text(json.dumps(data))
    with pytest.raises(DataError) as err:
        read_classification(root, "coop_split", "train")
    _one_line(err, f"{split_file}: train[1] names image {name!r}, outside the image folder")
    with caplog.at_level(logging.WARNING):
        records = read_classification(root, "coop_split", "train", skip_bad=True)
    assert [r.image_id for r in records] == ["image_00001.jpg", "image_00002.jpg"]
    assert "skipped 1 of 3 bad entries" in caplog.text


@pytest.mark.parametrize("image_id", ["../../secret", "/etc/passwd", "a/../../b"])
def test_fgvc_image_path_outside_the_image_folder(tmp_path, image_id, caplog):
    data = tmp_path / "fgvc" / "data"
    _hand_fgvc(data)
    split_file = data / "images_variant_test.txt"
    split_file.write_text(f"1025794 Cessna 172\n{image_id} 707-320\n")
    with pytest.raises(DataError) as err:
        read_classification(tmp_path / "fgvc", "fgvc_aircraft", "test")
    _one_line(err, f"{split_file}:2: names image '{image_id}.jpg', outside the image folder")
    with caplog.at_level(logging.WARNING):
        records = read_classification(tmp_path / "fgvc", "fgvc_aircraft", "test", skip_bad=True)
    assert [r.image_id for r in records] == ["1025794"]
    assert "skipped 1 of 2 bad entries" in caplog.text


def test_task_reader_passes_skip_bad_to_the_classification_readers(tmp_path):
    root = _hand_coop(tmp_path)
    split_file = root / "split_zhou_OxfordFlowers.json"
    data = json.loads(split_file.read_text())
    data["test"].append(["../x.jpg", 0, "pink primrose"])
    split_file.write_text(json.dumps(data))
    split = SplitCfg("coop_split", str(root), None, "test")
    with pytest.raises(DataError, match="outside the image folder"):
        READERS["coop_split"](split, None, False, False)
    assert len(READERS["coop_split"](split, None, False, True)) == 1


TARGET = 1  # HAND's first target shape (shape 0 is an "ignore" one); HAND's image is 50x40
REASONSEG_BAD = {
    "nan": ([[10, float("nan")], [30, 8], [25, 33]], r"shapes\[1\]\.points .*: not a finite number"),
    "infinite": ([[10, 12], [float("inf"), 8], [25, 33]], r"shapes\[1\]\.points .*: not a finite number"),
    "no area": ([[10, 5], [20, 5], [30, 5]], r"the first target shape has box .*: no area"),
    "wholly outside": (
        [[60, 45], [70, 50], [65, 60]],
        r"has box \(60.0, 45.0, 70.0, 60.0\): wholly outside its 50x40",
    ),
}


@pytest.mark.parametrize("case", sorted(REASONSEG_BAD))
def test_reasonseg_bad_target_is_one_line_or_skipped(tmp_path, case, caplog):
    points, why = REASONSEG_BAD[case]
    shapes = [dict(s) for s in HAND["shapes"]]
    shapes[TARGET]["points"] = points
    _item(tmp_path, "bad", {**HAND, "shapes": shapes})  # NaN/Infinity written as JSON's NaN/Infinity tokens
    _item(tmp_path, "good", HAND)
    with pytest.raises(DataError, match=why) as err:
        read_reasonseg(tmp_path)
    _one_line(err, str(tmp_path / "bad.json"))
    with caplog.at_level(logging.WARNING):
        records = read_reasonseg(tmp_path, skip_bad=True)
    assert [r.image_id for r in records] == ["good"]
    assert "skipped 1 of 2 bad ReasonSeg items" in caplog.text


def test_reasonseg_box_past_the_edge_is_clipped_and_counted(tmp_path, caplog):
    shapes = [dict(s) for s in HAND["shapes"]]
    shapes[TARGET]["points"] = [[40, 30], [62, 45], [45, 35]]
    _item(tmp_path, "edge", {**HAND, "shapes": shapes})
    with caplog.at_level(logging.WARNING):
        (record,) = read_reasonseg(tmp_path)
    assert record.box == (40.0, 30.0, 50.0, 40.0)
    assert record.polygons[0] == ((40.0, 30.0), (62.0, 45.0), (45.0, 35.0))  # the polygon as written
    assert "clipped 1 boxes" in caplog.text
