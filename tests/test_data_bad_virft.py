"""Bad rows of a released Visual-RFT dataset, written with `datasets` in the real on-disk format: an image path
leaving the dataset folder and a solution box the rewards' parser rejects stop the read with one line naming the
dataset and row, or (data.skip_bad=true) are skipped and counted; a relative image path opens inside the folder."""

from __future__ import annotations

import logging

import datasets
import pyarrow.parquet as pq
import pytest
from PIL import Image

from vrft.config import SplitCfg
from vrft.data.standins import write_virft_hf
from vrft.data.tasks import READERS
from vrft.data.virft_hf import read_virft
from vrft.errors import DataError

GOOD = "<answer>[{'Position': [1, 2, 30, 40], 'Confidence': 1}]</answer>"
BAD_SOLUTIONS = {  # solution of row 1 -> what the one line says
    "json NaN": ("<answer>[{'Position': [NaN, 2, 30, 40], 'Confidence': 1}]</answer>", "not a finite number"),
    "huge": (
        "<answer>[{'Position': [1, 2, 3" + "0" * 400 + ", 40], 'Confidence': 1}]</answer>",
        "not a finite",
    ),
    "python nan": ("<answer>[{'Position': [nan, 2, 30, 40], 'Confidence': 1}]</answer>", "does not parse"),
    "reversed": (
        "<answer>[{'Position': [1, 2, 3, 4]}, {'Position': [30, 2, 10, 40]}]</answer>",
        "solution entry 1 has Position [30, 2, 10, 40]: negative width or height",
    ),
    "three numbers": (
        "<answer>[{'Position': [1, 2, 3], 'Confidence': 1}]</answer>",
        "expected [x1, y1, x2, y2]",
    ),
    "only zero size": (
        "<answer>[{'Position': [5, 2, 5, 40], 'Confidence': 1}]</answer>",
        "train as No Objects",
    ),
    "grounding reversed": ("<answer>(30,40),(10,20)</answer>", "negative width or height"),
    "grounding nan": ("<answer>(nan,40),(10,20)</answer>", "not a finite number"),
    "grounding no area": ("<answer>(10,20),(10,40)</answer>", "no area"),
}


def _rows(solutions):
    return [
        {"image": Image.new("RGB", (8, 6), (9, 9, 9)), "problem": "Detect.", "solution": s} for s in solutions
    ]


@pytest.mark.parametrize("case", sorted(BAD_SOLUTIONS))
def test_bad_solution_box_is_one_line_or_a_counted_skip(tmp_path, case, caplog):
    solution, why = BAD_SOLUTIONS[case]
    root = write_virft_hf(tmp_path / "ds", _rows([GOOD, solution, GOOD]))
    with pytest.raises(DataError) as err:
        read_virft(root)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{root}: row 1") and why in msg, msg
    assert "data.skip_bad=true" in msg
    with caplog.at_level(logging.WARNING):
        rows = read_virft(root, skip_bad=True)
    assert [r["solution"] for r in rows] == [GOOD, GOOD]
    assert "skipped 1 of 3 bad rows" in caplog.text


def test_good_solutions_of_every_task_pass(tmp_path):
    solutions = [
        GOOD,
        "<answer>No Objects</answer>",
        "<answer>(1,2),(30,40)</answer>",
        "<answer>cat</answer>",
    ]
    assert len(read_virft(write_virft_hf(tmp_path / "ds", _rows(solutions)))) == 4


def _path_dataset(tmp_path, names, image_feature):
    """A dataset whose images are stored as paths: a string column saved with `save_to_disk`, or an `Image` column
    of paths without bytes in a parquet file written by pyarrow (`datasets` itself would embed the bytes)."""
    features = datasets.Features(
        {
            "image": datasets.Image() if image_feature else datasets.Value("string"),
            "problem": datasets.Value("string"),
            "solution": datasets.Value("string"),
        }
    )
    images = [{"bytes": None, "path": n} for n in names] if image_feature else list(names)
    ds = datasets.Dataset.from_dict(
        {"image": images, "problem": ["p"] * len(names), "solution": [GOOD] * len(names)}, features=features
    )
    root = tmp_path / "ds"
    if not image_feature:
        ds.save_to_disk(str(root))
        return root
    root.mkdir()
    pq.write_table(ds.data.table, root / "train.parquet")  # keeps the features in the schema's metadata
    return root


@pytest.mark.parametrize("image_feature", [True, False])
@pytest.mark.parametrize("climb", [True, False])
def test_image_path_outside_the_dataset_folder(tmp_path, monkeypatch, image_feature, climb, caplog):
    Image.new("RGB", (4, 3)).save(tmp_path / "secret.png")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")  # where "../secret.png" resolves, as it did when it was saved
    name = "../secret.png" if climb else str(tmp_path / "secret.png")
    root = _path_dataset(tmp_path, [name], image_feature)
    with pytest.raises(DataError) as err:
        read_virft(root, cache_dir=tmp_path / "cache")[0]
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{root}: row 0 names image {name!r}, outside the image folder")
    with pytest.raises(DataError, match=r"no usable rows \(all 1 were bad\)"):
        read_virft(root, cache_dir=tmp_path / "cache", skip_bad=True)


@pytest.mark.parametrize("image_feature", [True, False])
def test_relative_image_path_opens_inside_the_dataset_folder(tmp_path, monkeypatch, image_feature):
    (tmp_path / "work" / "img").mkdir(parents=True)
    Image.new("RGB", (4, 3)).save(tmp_path / "work" / "img" / "a.png")
    monkeypatch.chdir(tmp_path / "work")
    root = _path_dataset(tmp_path, ["img/a.png"], image_feature)
    (root / "img").mkdir()
    Image.new("RGB", (7, 5)).save(root / "img" / "a.png")
    assert read_virft(root, cache_dir=tmp_path / "cache")[0]["image"].size == (
        7,
        5,
    )  # the dataset folder's file, not the working folder's


def test_task_reader_passes_skip_bad_to_the_virft_reader(tmp_path):
    root = write_virft_hf(tmp_path / "ds", _rows([GOOD, "<answer>(30,40),(10,20)</answer>"]))
    split = SplitCfg("virft", str(root), None, "train")
    with pytest.raises(DataError, match="row 1"):
        READERS["virft"](split, None, True, False)
    assert len(READERS["virft"](split, None, True, True)) == 1
