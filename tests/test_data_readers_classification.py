"""Classification readers on CoOp split files and the FGVC-Aircraft layout: stand-ins, fixtures, malformed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from vrft.data.classification import CLASSIFICATION_LAYOUTS, class_names, read_classification
from vrft.data.images import filter_readable
from vrft.data.records import ClassificationRecord
from vrft.data.standins import write_coop_split, write_fgvc_aircraft
from vrft.errors import DataError
from vrft.registry import RegistryError


def _jpeg(path: Path, size=(8, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (10, 200, 30)).save(path)


PETS = ["great_pyrenees", "american_bulldog", "Abyssinian"]


@pytest.mark.parametrize("split,per_class", [("train", 3), ("val", 1), ("test", 2)])
def test_coop_standin_roundtrip(tmp_path, split, per_class):
    root = write_coop_split(tmp_path / "oxford_pets", PETS, {"train": 3, "val": 1, "test": 2}, seed=0)
    records = read_classification(root, "coop_split", split)
    assert len(records) == per_class * len(PETS)
    assert class_names(records) == PETS  # names kept as written, ordered by label id
    assert all(Path(r.image).parent == root / "images" for r in records)
    assert filter_readable(records) == (records, 0)
    assert {(r.label_id, r.label) for r in records} == set(enumerate(PETS))


def test_coop_standin_cars_layout_and_split_file_as_root(tmp_path):
    root = write_coop_split(
        tmp_path / "stanford_cars",
        ["2012 Acura RL Sedan", "AM General Hummer SUV 2000"],
        1,
        0,
        name="StanfordCars",
    )
    split_file = root / "split_zhou_StanfordCars.json"
    by_root = read_classification(root, "coop_split", "test")
    by_file = read_classification(split_file, "coop_split", "test")
    assert by_root == by_file
    assert all(r.image_id.startswith("cars_test/") and Path(r.image).is_file() for r in by_root)
    assert by_root[0].label == "2012 Acura RL Sedan"


def test_coop_standin_is_seeded(tmp_path):
    a = write_coop_split(tmp_path / "a", PETS, 1, seed=3) / "images"
    b = write_coop_split(tmp_path / "b", PETS, 1, seed=3) / "images"
    c = write_coop_split(tmp_path / "c", PETS, 1, seed=4) / "images"
    files = sorted(p.name for p in a.iterdir())
    assert files == sorted(p.name for p in b.iterdir())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert any((a / f).read_bytes() != (c / f).read_bytes() for f in files)


def _hand_coop(tmp_path: Path) -> Path:
    root = tmp_path / "oxford_flowers"
    split = {
        "train": [
            ["image_00001.jpg", 0, "pink primrose"],
            ["image_00002.jpg", 1, "hard-leaved pocket orchid"],
        ],
        "val": [["image_00003.jpg", 1, "hard-leaved pocket orchid"]],
        "test": [["image_00004.jpg", 0, "pink primrose"]],
    }
    (root).mkdir()
    (root / "split_zhou_OxfordFlowers.json").write_text(json.dumps(split))
    for k in range(1, 5):
        _jpeg(root / "jpg" / f"image_{k:05d}.jpg")
    return root


def test_coop_hand_written_fixture(tmp_path):
    root = _hand_coop(tmp_path)
    records = read_classification(root, "coop_split", "train")
    assert records == [
        ClassificationRecord(str(root / "jpg" / "image_00001.jpg"), "pink primrose", 0, "image_00001.jpg"),
        ClassificationRecord(
            str(root / "jpg" / "image_00002.jpg"), "hard-leaved pocket orchid", 1, "image_00002.jpg"
        ),
    ]
    other = tmp_path / "elsewhere"
    other.mkdir()
    moved = read_classification(root, "coop_split", "test", image_dir=other)
    assert moved[0].image == str(other / "image_00004.jpg")


def test_coop_missing_image_is_named(tmp_path):
    root = _hand_coop(tmp_path)
    (root / "jpg" / "image_00002.jpg").unlink()
    records = read_classification(root, "coop_split", "train")
    with pytest.raises(DataError, match="image_00002.jpg"):
        filter_readable(records)
    assert filter_readable(records, skip_bad=True) == (records[:1], 1)


@pytest.mark.parametrize(
    "content,split,match",
    [
        ('{"train": [["a.jpg", 0, "x"]', "train", "malformed JSON"),
        ('{"train": [["a.jpg", 0, "x"]], "test": []}', "val", "missing key 'val'"),
        ('{"train": []}', "train", "non-empty list"),
        (
            '{"train": [["a.jpg", "0", "x"]]}',
            "train",
            r"train\[0\] should be \[relpath, label_int, classname\]",
        ),
        ('{"train": [["a.jpg", 0]]}', "train", r"train\[0\]"),
        (
            '{"train": [["a.jpg", 0, "x"], ["b.jpg", 0, "y"]]}',
            "train",
            r"train\[1\] gives label 0 the name 'y'",
        ),
        ("[1, 2]", "train", "expected an object"),
    ],
)
def test_coop_malformed_split_file(tmp_path, content, split, match):
    root = tmp_path / "oxford_pets"
    (root / "images").mkdir(parents=True)
    (root / "split_zhou_OxfordPets.json").write_text(content)
    with pytest.raises(DataError, match=match) as err:
        read_classification(root, "coop_split", split)
    assert "split_zhou_OxfordPets.json" in str(err.value)


def test_coop_missing_root_and_files(tmp_path):
    with pytest.raises(DataError, match=r"expected .*nowhere: .*get it from .*CoOp.*\(see README\)"):
        read_classification(tmp_path / "nowhere", "coop_split", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"expected .*empty/split_zhou_<Dataset>\.json"):
        read_classification(tmp_path / "empty", "coop_split", "train")
    both = tmp_path / "both"
    both.mkdir()
    for name in ("split_zhou_A.json", "split_zhou_B.json"):
        (both / name).write_text("{}")
    with pytest.raises(DataError, match="several split files"):
        read_classification(both, "coop_split", "train")
    root = _hand_coop(tmp_path)
    with pytest.raises(DataError, match=r"expected .*elsewhere: the image folder"):
        read_classification(
            root / "split_zhou_OxfordFlowers.json", "coop_split", "train", tmp_path / "elsewhere"
        )


VARIANTS = ["707-320", "Cessna 172", "F-16A/B", "DHC-8-100"]


@pytest.mark.parametrize("split,n", [("train", 2), ("val", 1), ("test", 3), ("trainval", 3)])
def test_fgvc_standin_roundtrip(tmp_path, split, n):
    root = write_fgvc_aircraft(tmp_path / "fgvc", VARIANTS, {"train": 2, "val": 1, "test": 3}, seed=1)
    records = read_classification(root, "fgvc_aircraft", split)
    assert len(records) == n * len(VARIANTS)
    assert class_names(records) == VARIANTS
    assert filter_readable(records)[1] == 0
    assert all(Path(r.image).name == f"{r.image_id}.jpg" for r in records)


def _hand_fgvc(data: Path) -> None:
    data.mkdir(parents=True)
    (data / "variants.txt").write_text("707-320\nCessna 172\nF-16A/B\n")
    (data / "images_variant_test.txt").write_text("1025794 Cessna 172\n0034309 707-320\n\n")
    for image_id in ("1025794", "0034309"):
        _jpeg(data / "images" / f"{image_id}.jpg")


@pytest.mark.parametrize("coop_copy", [False, True])
def test_fgvc_hand_written_release_and_coop_layouts(tmp_path, coop_copy):
    root = tmp_path / "fgvc_aircraft"
    _hand_fgvc(root if coop_copy else root / "data")
    data = root if coop_copy else root / "data"
    records = read_classification(root, "fgvc_aircraft", "test")
    assert records == [
        ClassificationRecord(str(data / "images" / "1025794.jpg"), "Cessna 172", 1, "1025794"),
        ClassificationRecord(str(data / "images" / "0034309.jpg"), "707-320", 0, "0034309"),
    ]


def test_fgvc_malformed(tmp_path):
    root = tmp_path / "fgvc"
    _hand_fgvc(root / "data")
    with pytest.raises(
        DataError, match=r"images_variant_train\.txt: FGVC-Aircraft split 'train' \(splits found: test\)"
    ):
        read_classification(root, "fgvc_aircraft", "train")
    (root / "data" / "images_variant_test.txt").write_text("1025794 Boeing 999\n")
    with pytest.raises(
        DataError, match=r"images_variant_test\.txt:1: variant 'Boeing 999' is not listed in .*variants\.txt"
    ):
        read_classification(root, "fgvc_aircraft", "test")
    (root / "data" / "images_variant_test.txt").write_text("\n1025794\n")
    with pytest.raises(DataError, match=r"images_variant_test\.txt:2: expected '<image_id> <variant>'"):
        read_classification(root, "fgvc_aircraft", "test")
    (root / "data" / "variants.txt").unlink()
    with pytest.raises(
        DataError, match=r"expected .*variants\.txt: FGVC-Aircraft.*get it from .*fgvc-aircraft"
    ):
        read_classification(root, "fgvc_aircraft", "test")
    with pytest.raises(DataError, match=r"expected .*missing: FGVC-Aircraft"):
        read_classification(tmp_path / "missing", "fgvc_aircraft", "test")


def test_unknown_layout_lists_registered_ones(tmp_path):
    assert {"coop_split", "fgvc_aircraft"} <= set(CLASSIFICATION_LAYOUTS)
    with pytest.raises(RegistryError, match="coop_split, fgvc_aircraft"):
        read_classification(tmp_path, "imagenet_folders", "train")
