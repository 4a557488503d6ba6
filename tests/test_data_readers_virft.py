"""Released Visual-RFT datasets (image, problem, solution): save_to_disk folders, parquet, Hub ids, errors."""

from __future__ import annotations

import datasets
import pytest
from PIL import Image

from vrft.data import virft_hf
from vrft.data.standins import write_virft_hf
from vrft.data.virft_hf import read_virft
from vrft.errors import DataError

ROWS = [
    {
        "image": Image.new("RGBA", (12, 9), (200, 10, 10, 255)),
        "problem": "Detect the dog.",
        "solution": "<answer>[{'Position': [1, 2, 3, 4], 'Confidence': 1}]</answer>",
    },
    {
        "image": Image.new("RGB", (5, 6), (0, 90, 0)),
        "problem": "What is it?",
        "solution": "<answer>cat</answer>",
    },
]


def _check(rows):
    assert len(rows) == 2
    first = rows[0]
    assert set(first) == {"image", "problem", "solution"}
    assert isinstance(first["image"], Image.Image) and first["image"].size == (12, 9)
    assert first["image"].mode == "RGBA"  # kept as stored (the paper saved RGBA)
    assert first["image"].getpixel((0, 0)) == (200, 10, 10, 255)
    assert [r["solution"] for r in rows] == [r["solution"] for r in ROWS]
    assert rows[1:][0]["problem"] == "What is it?"


def test_standin_save_to_disk(tmp_path):
    _check(read_virft(write_virft_hf(tmp_path / "ds", ROWS)))


def test_standin_parquet_folder_and_file(tmp_path):
    root = write_virft_hf(tmp_path / "ds", ROWS, fmt="parquet")
    _check(read_virft(root, cache_dir=tmp_path / "cache"))
    _check(read_virft(root / "data" / "train-00000-of-00001.parquet", cache_dir=tmp_path / "cache"))


def _features():
    return datasets.Features(
        {"image": datasets.Image(), "problem": datasets.Value("string"), "solution": datasets.Value("string")}
    )


def _hand_dataset(columns=None):
    data = {
        "image": [r["image"] for r in ROWS],
        "problem": [r["problem"] for r in ROWS],
        "solution": [r["solution"] for r in ROWS],
    }
    if columns is not None:
        data = {k: v for k, v in data.items() if k in columns}
        return datasets.Dataset.from_dict(data)
    return datasets.Dataset.from_dict(data, features=_features())


def test_hand_written_dataset_dict_dataset_and_split(tmp_path):
    ds = _hand_dataset()
    datasets.DatasetDict({"train": ds, "test": ds.select([1])}).save_to_disk(str(tmp_path / "dd"))
    _check(read_virft(tmp_path / "dd"))
    assert len(read_virft(tmp_path / "dd", split="test")) == 1
    with pytest.raises(DataError, match=r"dd: no split 'validation' \(splits: train, test\)"):
        read_virft(tmp_path / "dd", split="validation")
    ds.save_to_disk(str(tmp_path / "single"))  # a bare Dataset: the split argument does not apply
    _check(read_virft(tmp_path / "single"))


def test_hand_written_parquet_split_files(tmp_path):
    ds = _hand_dataset()
    (tmp_path / "pq" / "data").mkdir(parents=True)
    ds.to_parquet(str(tmp_path / "pq" / "data" / "train-00000-of-00001.parquet"))
    ds.select([0]).to_parquet(str(tmp_path / "pq" / "data" / "test-00000-of-00001.parquet"))
    _check(read_virft(tmp_path / "pq", cache_dir=tmp_path / "cache"))
    assert len(read_virft(tmp_path / "pq", split="test", cache_dir=tmp_path / "cache")) == 1
    with pytest.raises(DataError, match=r"no parquet file for split 'validation' \(found: data/test-"):
        read_virft(tmp_path / "pq", split="validation", cache_dir=tmp_path / "cache")


def test_missing_column_is_named(tmp_path):
    _hand_dataset(["image", "problem"]).save_to_disk(str(tmp_path / "nosol"))
    with pytest.raises(DataError, match=r"nosol: missing column 'solution' \(columns: image, problem\)"):
        read_virft(tmp_path / "nosol")


def test_missing_damaged_and_empty_paths(tmp_path):
    with pytest.raises(
        DataError, match=r"expected .*/nothing/here: a dataset saved with save_to_disk.*laolao77.*see README"
    ):
        read_virft(tmp_path / "nothing" / "here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"expected .*/empty: a dataset saved"):
        read_virft(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "dataset_dict.json").write_text('{"splits": ["train"]}')
    with pytest.raises(DataError, match=r"broken: cannot load the saved dataset"):
        read_virft(tmp_path / "broken")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 nope")
    with pytest.raises(DataError, match=r"bad\.parquet: cannot load parquet"):
        read_virft(tmp_path / "bad.parquet", cache_dir=tmp_path / "cache")


def test_hub_id_goes_to_load_dataset(tmp_path, monkeypatch):
    calls = []

    def fake_load_dataset(path, **kwargs):
        calls.append((path, kwargs))
        if path == "laolao77/ViRFT_COCO_8_cate_4_shot":
            return _hand_dataset()
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.chdir(tmp_path)
    _check(read_virft("laolao77/ViRFT_COCO_8_cate_4_shot"))
    assert calls[0] == ("laolao77/ViRFT_COCO_8_cate_4_shot", {"split": "train", "cache_dir": None})
    with pytest.raises(
        DataError, match=r"laolao77/ViRFT_missing as a local folder or a Hugging Face dataset id.*offline"
    ):
        read_virft("laolao77/ViRFT_missing")


def test_rows_are_lazy_and_decode_paths(tmp_path):
    path = tmp_path / "img.png"
    Image.new("L", (4, 3), 9).save(path)
    ds = datasets.Dataset.from_dict({"image": [str(path)], "problem": ["p"], "solution": ["s"]})
    rows = virft_hf.VirftRows(ds, "mem")
    assert rows[0]["image"].mode == "RGB" and rows[0]["image"].size == (4, 3)  # a path column is opened
    assert rows[-1:][0]["problem"] == "p" and list(rows)[0]["solution"] == "s"
    assert "1 rows" in repr(rows)
