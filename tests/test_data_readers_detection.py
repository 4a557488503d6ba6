"""COCO 2017 / LVIS v1 detection reader: query protocols, box conversion, stand-ins, malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vrft.data.coco import load_exist_map, read_detection
from vrft.data.images import filter_readable
from vrft.data.standins import write_coco, write_lvis
from vrft.data.standins._draw import named_style
from vrft.errors import ConfigError, DataError


def _jpeg(path: Path, size) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 90, 90)).save(path)


def _hand_coco(tmp_path: Path) -> tuple[Path, Path]:
    """Two images; category ids 1, 3, 18 (non-contiguous); a crowd box and a zero-size box to be left out."""
    data = {
        "images": [
            {"id": 42, "file_name": "000000000042.jpg", "width": 40, "height": 30},
            {"id": 7, "file_name": "000000000007.jpg", "width": 20, "height": 20},
        ],
        "annotations": [
            {"id": 1, "image_id": 42, "category_id": 18, "bbox": [1, 2, 10, 5], "iscrowd": 0, "area": 50},
            {"id": 2, "image_id": 42, "category_id": 18, "bbox": [20.5, 3, 4, 4], "iscrowd": 0, "area": 16},
            {"id": 3, "image_id": 42, "category_id": 1, "bbox": [0, 0, 40, 30], "iscrowd": 1, "area": 1200},
            {"id": 4, "image_id": 7, "category_id": 3, "bbox": [5, 5, 0, 3], "iscrowd": 0, "area": 0},
            {"id": 5, "image_id": 7, "category_id": 1, "bbox": [2, 2, 6, 6], "iscrowd": 0, "area": 36},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 18, "name": "dog"}],
    }
    ann = tmp_path / "annotations" / "instances_val2017.json"
    ann.parent.mkdir(parents=True)
    ann.write_text(json.dumps(data))
    images = tmp_path / "val2017"
    _jpeg(images / "000000000042.jpg", (40, 30))
    _jpeg(images / "000000000007.jpg", (20, 20))
    return ann, images


def _summary(records):
    return [(r.image_id, r.category, r.category_id, r.boxes) for r in records]


def test_coco_hand_written_gt(tmp_path):
    ann, images = _hand_coco(tmp_path)
    records = read_detection(ann, images, ["dog", "person", "car"])
    assert _summary(records) == [
        (42, "dog", 18, ((1.0, 2.0, 11.0, 7.0), (20.5, 3.0, 24.5, 7.0))),  # crowd person box left out
        (7, "person", 1, ((2.0, 2.0, 8.0, 8.0),)),  # zero-width car box left out
    ]
    assert records[0].image == str(images / "000000000042.jpg")
    assert (records[0].width, records[0].height) == (40, 30)
    assert filter_readable(records) == (records, 0)


def test_coco_hand_written_all_and_default_selection(tmp_path):
    ann, images = _hand_coco(tmp_path)
    records = read_detection(ann, images, None, query="all")
    assert [(r.image_id, r.category, len(r.boxes)) for r in records] == [
        (42, "person", 0),
        (42, "car", 0),
        (42, "dog", 2),
        (7, "person", 1),
        (7, "car", 0),
        (7, "dog", 0),
    ]


@pytest.mark.parametrize("key_type", [str, int])
def test_coco_exist_map_protocol(tmp_path, key_type):
    ann, images = _hand_coco(tmp_path)
    emap = {key_type(42): ["car", "dog", "hot dog"], key_type(7): ["person"], key_type(999): ["dog"]}
    records = read_detection(ann, images, ["dog", "car"], query="exist_map", exist_map=emap)
    # intersected with the selection (person is not selected), unknown names ignored, selection order
    assert [(r.image_id, r.category, len(r.boxes)) for r in records] == [(42, "dog", 2), (42, "car", 0)]
    path = tmp_path / "exist_map.json"
    path.write_text(json.dumps(emap))
    assert load_exist_map(path) == {str(k): v for k, v in emap.items()}
    assert read_detection(ann, images, ["dog", "car"], query="exist_map", exist_map=path) == records


def test_coco_query_settings_are_checked(tmp_path):
    ann, images = _hand_coco(tmp_path)
    with pytest.raises(ConfigError, match="query 'some'.*gt, all, exist_map"):
        read_detection(ann, images, None, query="some")
    with pytest.raises(ConfigError, match="needs an exist_map"):
        read_detection(ann, images, None, query="exist_map")
    with pytest.raises(ConfigError, match="kind 'voc'"):
        read_detection(ann, images, None, kind="voc")
    with pytest.raises(
        DataError, match=r"exist_map: none of its 1 image ids are images of .*instances_val2017\.json"
    ):
        read_detection(ann, images, None, query="exist_map", exist_map={"5": ["dog"]})
    with pytest.raises(DataError, match=r"exist_map\['42'\] should be a list"):
        read_detection(ann, images, None, query="exist_map", exist_map={"42": "dog"})


@pytest.mark.parametrize(
    "name,close",
    [("fire hydrnt", "fire hydrant"), ("Dog", "dog"), ("stop_sign", "stop sign")],
)
def test_unknown_category_names_close_matches(tmp_path, name, close):
    ann, images = write_coco(tmp_path, 4, ["dog", "fire hydrant", "stop sign"], seed=0)
    with pytest.raises(
        DataError, match=rf"instances_val2017\.json: unknown category '{name}' \(close matches: .*{close}"
    ):
        read_detection(ann, images, ["dog", name])


def _mutated(tmp_path: Path, mutate) -> Path:
    ann, _ = _hand_coco(tmp_path)
    data = json.loads(ann.read_text())
    mutate(data)
    ann.write_text(json.dumps(data))
    return ann


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d: d.pop("annotations"), "missing key 'annotations' in the top-level object"),
        (lambda d: d["annotations"][1].pop("bbox"), r"missing key 'bbox' in annotations\[1\]"),
        (lambda d: d["images"][0].pop("file_name"), r"missing key 'file_name' in images\[0\]"),
        (lambda d: d["images"][1].pop("height"), r"missing key 'height' in images\[1\]"),
        (lambda d: d["categories"][2].pop("name"), r"missing key 'name' in categories\[2\]"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), r"annotation 1 has bbox \[1, 2, 3\]"),
        (lambda d: d["annotations"][0].update(image_id=5), "annotation 1 refers to unknown image_id 5"),
        (lambda d: d.update(images={}), "key 'images' should be a list"),
    ],
)
def test_coco_malformed_annotation_names_file_and_key(tmp_path, mutate, match):
    ann = _mutated(tmp_path, mutate)
    with pytest.raises(DataError, match=match) as err:
        read_detection(ann, tmp_path / "val2017", None)
    assert str(ann) in str(err.value)


def test_coco_truncated_and_missing_files(tmp_path):
    ann, images = _hand_coco(tmp_path)
    ann.write_text(ann.read_text()[:-40])
    with pytest.raises(DataError, match=r"instances_val2017\.json: malformed JSON \(.* line 1 column"):
        read_detection(ann, images, None)
    with pytest.raises(
        DataError, match=r"expected .*nope\.json: COCO-format annotations.*cocodataset\.org.*see README"
    ):
        read_detection(tmp_path / "nope.json", images, None)
    with pytest.raises(
        DataError, match=r"expected .*lvis_v1_val\.json: LVIS v1 annotations.*lvisdataset\.org"
    ):
        read_detection(tmp_path / "lvis_v1_val.json", images, None, kind="lvis")
    ann, _ = _hand_coco(tmp_path / "again")
    with pytest.raises(DataError, match=r"expected .*no_images: the COCO 2017 image folder"):
        read_detection(ann, tmp_path / "no_images", None)


def test_coco_missing_or_wrong_sized_image_is_reported(tmp_path):
    ann, images = _hand_coco(tmp_path)
    (images / "000000000007.jpg").unlink()
    _jpeg(images / "000000000042.jpg", (41, 30))
    records = read_detection(ann, images, None, query="all")
    with pytest.raises(DataError, match=r"000000000042\.jpg: image is 41x30 but the annotation says 40x30"):
        filter_readable(records)
    assert filter_readable(records, skip_bad=True) == ([], 6)


def _hand_lvis(tmp_path: Path) -> Path:
    data = {
        "images": [
            {
                "id": 9,
                "coco_url": "http://images.cocodataset.org/train2017/000000000009.jpg",
                "width": 16,
                "height": 12,
                "neg_category_ids": [],
                "not_exhaustive_category_ids": [],
            },
            {
                "id": 3,
                "coco_url": "http://images.cocodataset.org/val2017/000000000003.jpg",
                "width": 16,
                "height": 12,
                "neg_category_ids": [2],
                "not_exhaustive_category_ids": [],
            },
        ],
        "annotations": [{"id": 1, "image_id": 9, "category_id": 2, "bbox": [1, 1, 4, 4], "area": 16}],
        "categories": [
            {"id": 1, "name": "horse_buggy", "frequency": "r"},
            {"id": 2, "name": "die", "frequency": "r"},
        ],
    }
    ann = tmp_path / "lvis" / "lvis_v1_val.json"
    ann.parent.mkdir(parents=True)
    ann.write_text(json.dumps(data))
    return ann


@pytest.mark.parametrize("image_dir", ["coco", "coco/val2017", "flat"])
def test_lvis_image_files_from_coco_url(tmp_path, image_dir):
    ann = _hand_lvis(tmp_path)
    if image_dir == "flat":
        expected = [tmp_path / "flat" / "000000000009.jpg", tmp_path / "flat" / "000000000003.jpg"]
    else:  # LVIS v1 val uses train2017 and val2017 images: both resolve from the COCO root or a split folder
        expected = [tmp_path / "coco/train2017/000000000009.jpg", tmp_path / "coco/val2017/000000000003.jpg"]
    for path in expected:
        _jpeg(path, (16, 12))
    records = read_detection(ann, tmp_path / image_dir, None, query="all", kind="lvis")
    assert [r.image for r in records] == [str(p) for p in expected for _ in range(2)]
    assert [(r.image_id, r.category, r.boxes) for r in records if r.boxes] == [
        (9, "die", ((1.0, 1.0, 5.0, 5.0),))
    ]
    assert filter_readable(records)[1] == 0


def test_lvis_missing_coco_url_is_named(tmp_path):
    ann = _hand_lvis(tmp_path)
    data = json.loads(ann.read_text())
    del data["images"][1]["coco_url"]
    ann.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"lvis_v1_val\.json: missing key 'coco_url' in images\[1\]"):
        read_detection(ann, tmp_path, None, kind="lvis")


COCO8 = ["bus", "train", "fire hydrant", "stop sign", "cat", "dog", "bed", "toilet"]
NAMED = ["red circle", "blue square", "green triangle", "orange"]


@pytest.mark.parametrize(
    "kind,writer,cats",
    [("coco", write_coco, COCO8), ("lvis", write_lvis, COCO8), ("coco", write_coco, NAMED)],
)
def test_standin_matches_its_json_and_pixels(tmp_path, kind, writer, cats):
    ann, images = writer(tmp_path, 24, cats, seed=5)
    data = json.loads(ann.read_text())
    records = read_detection(ann, images, cats, kind=kind)
    assert filter_readable(records) == (records, 0)
    assert sum(len(r.boxes) for r in records) == len(data["annotations"])
    assert {r.category for r in records} == set(cats)  # every category appears (round robin)
    for r in records[:20]:  # boxes are exact: the object's colour fills the box and stops at its edges
        rgb = np.asarray(named_style(r.category, cats.index(r.category))[1])
        pixels = np.asarray(Image.open(r.image).convert("RGB")).astype(int)
        for x1, y1, x2, y2 in r.boxes:
            x1, y1, x2, y2 = int(x1), int(y1), int(x2), int(y2)
            window = pixels[max(y1 - 2, 0) : y2 + 2, max(x1 - 2, 0) : x2 + 2]
            ys, xs = np.nonzero(np.abs(window - rgb).sum(-1) < 60)
            xs, ys = xs + max(x1 - 2, 0), ys + max(y1 - 2, 0)
            # nothing of the object's colour outside the box (1 px of JPEG ringing allowed) ...
            assert x1 - 1 <= xs.min() and xs.max() <= x2 and y1 - 1 <= ys.min() and ys.max() <= y2
            # ... and the object reaches every edge (pointed tips of triangles/diamonds blur by up to 3 px)
            assert xs.min() <= x1 + 3 and xs.max() >= x2 - 4 and ys.min() <= y1 + 3 and ys.max() >= y2 - 4


def test_named_styles_follow_the_name():
    assert named_style("red circle", 5)[::2] == ("red", "ellipse")
    assert named_style("blue_square", 0)[::2] == ("blue", "rectangle")
    assert named_style("dog", 2) == named_style("", 2) != named_style("", 3)


def test_standin_lvis_is_valid_for_the_lvis_api(tmp_path):
    lvis = pytest.importorskip("lvis")
    ann, _ = write_lvis(tmp_path, 6, ["horse_buggy", "die"], seed=0)
    api = lvis.LVIS(str(ann))
    assert len(api.get_ann_ids()) == len(json.loads(ann.read_text())["annotations"])
    img = api.load_imgs([1])[0]
    assert "file_name" not in img and img["coco_url"].endswith("/val2017/000000000001.jpg")


def test_standin_coco_is_seeded(tmp_path):
    a, _ = write_coco(tmp_path / "a", 5, COCO8, seed=1)
    b, _ = write_coco(tmp_path / "b", 5, COCO8, seed=1)
    c, _ = write_coco(tmp_path / "c", 5, COCO8, seed=2)
    assert a.read_text() == b.read_text() != c.read_text()
