"""Image open/verify and file helpers: RGB conversion, missing/corrupt/truncated files, skip and count."""

from __future__ import annotations

import io
import logging

import pytest
from PIL import Image

from vrft.data import images as images_mod
from vrft.data.images import filter_readable, need, open_image, read_json, require_path
from vrft.data.records import ClassificationRecord, DetectionRecord
from vrft.errors import DataError


@pytest.mark.parametrize("mode,colour", [("RGBA", (10, 20, 30, 40)), ("L", 77), ("P", 3), ("RGB", (1, 2, 3))])
def test_open_image_gives_rgb(tmp_path, mode, colour):
    path = tmp_path / "x.png"
    Image.new(mode, (7, 5), colour).save(path)
    img = open_image(path)
    assert img.mode == "RGB" and img.size == (7, 5)
    assert open_image(Image.new(mode, (3, 2), colour)).mode == "RGB"


def _truncated_jpeg(path):
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 50).convert("RGB").save(buf, format="JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p: None, "image file not found"),
        (lambda p: p.write_bytes(b"definitely not an image"), "cannot decode image"),
        (_truncated_jpeg, "cannot decode image .*truncated"),
    ],
)
def test_open_image_bad_files_are_named(tmp_path, make, match):
    path = tmp_path / "broken_0001.jpg"
    make(path)
    with pytest.raises(DataError, match=rf"broken_0001\.jpg: {match}"):
        open_image(path)
    reason = images_mod.check_image(path)
    assert reason is not None and "broken_0001.jpg" in reason


def _records(tmp_path):
    good = tmp_path / "good.jpg"
    Image.new("RGB", (10, 8)).save(good)
    _truncated_jpeg(tmp_path / "trunc.jpg")
    return [
        ClassificationRecord(str(good), "a", 0, "good"),
        ClassificationRecord(str(tmp_path / "trunc.jpg"), "a", 0, "trunc"),
        ClassificationRecord(str(tmp_path / "missing.jpg"), "b", 1, "missing"),
        ClassificationRecord(str(good), "b", 1, "good-again"),
        {"image": Image.new("RGB", (2, 2)), "problem": "p", "solution": "s"},
    ]


def test_filter_readable_raises_on_first_bad(tmp_path):
    with pytest.raises(DataError, match=r"trunc\.jpg: cannot decode image.*data\.skip_bad=true"):
        filter_readable(_records(tmp_path))


def test_filter_readable_skips_counts_and_logs(tmp_path, caplog, monkeypatch):
    records = _records(tmp_path)
    calls = []
    real = images_mod.check_image
    monkeypatch.setattr(images_mod, "check_image", lambda p, s=None: calls.append(p) or real(p, s))
    with caplog.at_level(logging.WARNING):
        kept, skipped = filter_readable(records, skip_bad=True)
    assert kept == [records[0], records[3], records[4]] and skipped == 2
    assert "skipped 2 records of 2 unreadable images" in caplog.text and "trunc.jpg" in caplog.text
    assert len(calls) == 3  # each distinct file checked once; in-memory images not at all


def test_filter_readable_checks_annotated_size(tmp_path):
    path = tmp_path / "img.jpg"
    Image.new("RGB", (30, 20)).save(path)
    ok = DetectionRecord(str(path), 1, 30, 20, 1, "dog")
    wrong = DetectionRecord(str(path), 1, 20, 30, 1, "dog")
    assert filter_readable([ok]) == ([ok], 0)
    with pytest.raises(DataError, match=r"img\.jpg: image is 30x20 but the annotation says 20x30"):
        filter_readable([wrong])
    assert filter_readable([ok, wrong], skip_bad=True) == ([ok], 1)


def test_file_helpers(tmp_path):
    with pytest.raises(
        DataError, match=r"^expected .*/data: the thing; get it from somewhere \(see README\)$"
    ):
        require_path(tmp_path / "data", "the thing", "somewhere")
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": [1, 2')
    with pytest.raises(DataError, match=r"bad\.json: malformed JSON \(.* at line 1 column \d+\)"):
        read_json(bad, "x", "y")
    bad.write_bytes(b"\xff\xfe{")
    with pytest.raises(DataError, match=r"bad\.json: "):
        read_json(bad, "x", "y")
    assert need({"k": 1}, "k", bad) == 1
    with pytest.raises(DataError, match=r"bad\.json: missing key 'k' in images\[3\]"):
        need({}, "k", bad, "images[3]")
    with pytest.raises(DataError, match=r"bad\.json: expected an object with key 'k'"):
        need([1], "k", bad)
