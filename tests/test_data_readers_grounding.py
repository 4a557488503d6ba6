"""ReasonSeg (LISA) reader: first target polygon -> box, sentence modes, stand-in, malformed items."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vrft.data.images import filter_readable
from vrft.data.reasonseg import read_reasonseg
from vrft.data.standins import write_reasonseg
from vrft.data.standins._draw import COLORS
from vrft.errors import ConfigError, DataError


def _item(folder: Path, name: str, item: dict, size=(50, 40)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(item))
    Image.new("RGB", size, (0, 0, 0)).save(folder / f"{name}.jpg")


HAND = {
    "text": ["What is the object used to sit on?", "Where would you rest after a long walk?"],
    "is_sentence": True,
    "shapes": [
        {"label": "ignore", "points": [[0, 0], [5, 0], [5, 5]], "shape_type": "polygon"},
        {"label": "target", "points": [[10, 12.5], [30, 8], [25, 33]], "shape_type": "polygon"},
        {"label": "target", "points": [[40, 1], [44, 2], [42, 6]], "shape_type": "polygon"},
    ],
}


def test_hand_written_first_and_all(tmp_path):
    _item(tmp_path, "b_item", HAND)
    _item(
        tmp_path,
        "a_item",
        {
            "text": ["the red mug"],
            "is_sentence": False,
            "shapes": [{"label": "target", "points": [[3, 4], [9, 7]], "shape_type": "rectangle"}],
        },
    )
    first = read_reasonseg(tmp_path, "first")
    assert [(r.image_id, r.instruction, r.box) for r in first] == [
        ("a_item", "the red mug", (3.0, 4.0, 9.0, 7.0)),
        ("b_item", HAND["text"][0], (10.0, 8.0, 30.0, 33.0)),  # first TARGET polygon, the ignore one skipped
    ]
    assert first[0].polygons == (((3.0, 4.0), (9.0, 4.0), (9.0, 7.0), (3.0, 7.0)),)  # rectangle -> 4 corners
    assert len(first[1].polygons) == 2 and first[1].polygons[1][0] == (40.0, 1.0)
    assert (first[1].width, first[1].height) == (50, 40)
    assert first[1].image == str(tmp_path / "b_item.jpg")
    every = read_reasonseg(tmp_path, "all")
    assert [(r.image_id, r.instruction) for r in every] == [
        ("a_item", "the red mug"),
        ("b_item", HAND["text"][0]),
        ("b_item", HAND["text"][1]),
    ]
    assert every[1].box == every[2].box


def _broken(folder: Path, kind: str) -> str:
    """Write one broken item of `kind`; return what the error must mention."""
    _item(folder, "bad", HAND)
    j = folder / "bad.json"
    if kind == "truncated":
        j.write_text(j.read_text()[:30])
        return r"bad\.json: malformed JSON"
    if kind in ("text", "shapes"):
        j.write_text(json.dumps({k: v for k, v in HAND.items() if k != kind}))
        return rf"bad\.json: missing key '{kind}'"
    if kind == "points":
        j.write_text(json.dumps({**HAND, "shapes": [{"label": "target", "shape_type": "polygon"}]}))
        return r"bad\.json: missing key 'points' in shapes\[0\]"
    if kind == "all_ignore":
        j.write_text(json.dumps({**HAND, "shapes": HAND["shapes"][:1]}))
        return r"bad\.json: no target shape"
    if kind == "no_sentence":
        j.write_text(json.dumps({**HAND, "text": [" "]}))
        return r"bad\.json: key 'text' has no instruction sentence"
    if kind == "missing_image":
        (folder / "bad.jpg").unlink()
        return r"bad\.jpg: image file not found"
    (folder / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return r"bad\.jpg: cannot decode image"


@pytest.mark.parametrize(
    "kind",
    ["truncated", "text", "shapes", "points", "all_ignore", "no_sentence", "missing_image", "corrupt_image"],
)
def test_malformed_item_is_named_or_skipped(tmp_path, kind, caplog):
    match = _broken(tmp_path, kind)
    _item(tmp_path, "good", HAND)
    with pytest.raises(DataError, match=match):
        read_reasonseg(tmp_path)
    with caplog.at_level(logging.WARNING):
        records = read_reasonseg(tmp_path, skip_bad=True)
    assert [r.image_id for r in records] == ["good"]
    assert "skipped 1 of 2 bad ReasonSeg items" in caplog.text


def test_missing_or_empty_folder_and_bad_mode(tmp_path):
    with pytest.raises(
        DataError, match=r"expected .*ReasonSeg/val: a ReasonSeg split folder.*LISA.*see README"
    ):
        read_reasonseg(tmp_path / "ReasonSeg" / "val")
    with pytest.raises(DataError, match=r"expected .*/\*\.json"):
        read_reasonseg(tmp_path)
    with pytest.raises(ConfigError, match="'some'.*first, all"):
        read_reasonseg(tmp_path, "some")


def test_standin_roundtrip_and_boxes_on_pixels(tmp_path):
    root = write_reasonseg(tmp_path / "train", 12, seed=2)
    first = read_reasonseg(root, "first")
    every = read_reasonseg(root, "all")
    assert len(first) == 12 and len(every) >= 12
    assert {r.image_id for r in every} == {r.image_id for r in first}
    assert filter_readable(every) == (every, 0)
    for r in first:
        x1, y1, x2, y2 = r.box
        assert 0 <= x1 < x2 < r.width and 0 <= y1 < y2 < r.height
        pixels = np.asarray(Image.open(r.image).convert("RGB")).astype(int)
        centre = pixels[
            int((y1 + y2) / 2) - 1 : int((y1 + y2) / 2) + 2, int((x1 + x2) / 2) - 1 : int((x1 + x2) / 2) + 2
        ]
        outside = pixels[max(int(y1) - 3, 0), max(int(x1) - 3, 0)]  # the box's outer corner is background
        assert np.abs(centre - outside).sum(-1).min() > 60
        named = [rgb for name, rgb in COLORS if re.search(rf"\b{name}\b", r.instruction)]
        assert len(named) == 1  # the instruction names the target's colour, which is the colour at its centre
        assert np.abs(centre - np.asarray(named[0])).sum(-1).min() < 60


def test_standin_is_seeded(tmp_path):
    a, b, c = (write_reasonseg(tmp_path / n, 4, seed=s) for n, s in (("a", 0), ("b", 0), ("c", 1)))
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in names)
    assert any((a / n).read_bytes() != (c / n).read_bytes() for n in names)
