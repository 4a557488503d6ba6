"""Reader for the released Visual-RFT datasets (`laolao77/ViRFT_*`): rows of image, problem, solution.

`read_virft(path, split="train")` accepts, in this order: a folder saved with `save_to_disk` (a `DatasetDict`
or a `Dataset`, loaded with `datasets.load_from_disk`, as the paper's `grpo.py` does); a `.parquet` file or a
folder holding parquet files (a Hub snapshot such as `data/train-00000-of-00001.parquet`, loaded with
`datasets.load_dataset("parquet", data_files=...)`); otherwise an `owner/name` Hub id (`load_dataset(id)`,
which needs the network). Rows are `{"image": PIL.Image, "problem": str, "solution": str}` taken as they are:
the problem text and the solution's coordinates are the release's (Qwen2-VL 0..1000), and images keep their
stored mode (the paper saved RGBA; `vrft.data.images.open_image` converts). The result is a lazy sequence:
an image is decoded when its row is read (in DataLoader workers), not at load time.
An image stored as a file path is opened inside the dataset folder. Bad rows (`vrft.data.virft_checks`: an image
path leaving the dataset folder, a solution box the rewards' parser rejects) stop the read with one line naming the
dataset and row, or are skipped and counted with `skip_bad=True`; boxes are neither clipped nor checked against
the image, as the rows do not record their coordinate space (the releases use Qwen2-VL's 0..1000).
Left out: JSON `{image_path, problem, solution}` files (Visual-ARFT), re-encoding problems for other families.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vrft.data.images import open_image
from vrft.data.virft_checks import without_bad_rows
from vrft.errors import DataError

VIRFT_WHERE = "the Hugging Face collection 'ViRFT Datasets' (laolao77/ViRFT_*)"
COLUMNS = ("image", "problem", "solution")
SPLIT_NAMES = ("train", "validation", "val", "test")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class VirftRows(Sequence):
    """A read-only sequence of `{"image", "problem", "solution"}` dicts over a `datasets.Dataset`."""

    def __init__(self, dataset: Any, source: str, image_root: Path | None = None):
        self.dataset, self.source, self.image_root = dataset, source, image_root
        self._decoder = None
        feature = getattr(dataset, "features", {}).get("image")
        if image_root is not None and _is_image_feature(feature):
            self._decoder = feature  # decoded here, so that a stored path is taken inside image_root
            self.dataset = dataset.cast_column("image", type(feature)(mode=feature.mode, decode=False))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        row = self.dataset[index]
        image = row["image"]
        if isinstance(image, dict) and self._decoder is not None:
            image = self._decode(image, index)
        elif isinstance(image, (str, Path)):
            image = open_image(self.image_root / image if self.image_root is not None else image)
        return {"image": image, "problem": row["problem"], "solution": row["solution"]}

    def _decode(self, value: dict, index: int) -> Any:
        """The library's decoder on stored bytes, or on a stored path taken inside `image_root`."""
        if value.get("bytes") is None and value.get("path") is not None:
            value = {"bytes": None, "path": str(self.image_root / value["path"])}
        try:
            return self._decoder.decode_example(value)
        except (OSError, ValueError) as err:
            raise DataError(f"{self.source}: row {index}: cannot decode image ({err})") from None

    def __repr__(self) -> str:
        return f"VirftRows({self.source!r}, {len(self)} rows)"


def _is_image_feature(feature: Any) -> bool:
    from datasets import Image

    return isinstance(feature, Image)


def read_virft(
    path: Path | str, split: str = "train", cache_dir: Path | str | None = None, skip_bad: bool = False
) -> VirftRows:
    """Rows of `split` of a released Visual-RFT dataset (see the module docstring for what `path` may be).

    `cache_dir` is where `load_dataset` keeps its Arrow copy of parquet/Hub data (default: the HF cache).
    `skip_bad` skips and counts bad rows instead of stopping.
    """
    p = Path(path)
    cache = str(cache_dir) if cache_dir is not None else None
    if p.is_dir() and ((p / "dataset_dict.json").exists() or (p / "state.json").exists()):
        dataset = _from_disk(p, split)
    elif p.exists():
        dataset = _from_parquet(p, split, cache)
    elif _HUB_ID.match(str(path)):
        dataset = _from_hub(str(path), split, cache)
    else:
        raise DataError(
            f"expected {p}: a dataset saved with save_to_disk, or parquet files with columns image, problem, "
            f"solution; get it from {VIRFT_WHERE} (see README)"
        )
    _check_columns(dataset, str(path))
    root = (p if p.is_dir() else p.parent) if p.exists() else None  # Hub data: its images are stored as bytes
    dataset = without_bad_rows(dataset, str(path), root, skip_bad)
    return VirftRows(dataset, str(path), root)


def _from_disk(p: Path, split: str) -> Any:
    from datasets import DatasetDict, load_from_disk

    try:
        loaded = load_from_disk(str(p))
    except Exception as err:  # the library raises many types for a damaged folder
        raise DataError(f"{p}: cannot load the saved dataset ({type(err).__name__}: {err})") from None
    if isinstance(loaded, DatasetDict):
        if split not in loaded:
            raise DataError(f"{p}: no split {split!r} (splits: {', '.join(loaded)})")
        return loaded[split]
    return loaded


def _parquet_files(p: Path, split: str) -> list[str]:
    """The parquet files of `split` under folder `p` (all of them when no file names a split)."""
    files = sorted(p.rglob("*.parquet")) if p.is_dir() else [p]
    if not files or (p.is_file() and p.suffix != ".parquet"):
        raise DataError(
            f"expected {p}: a dataset saved with save_to_disk, or parquet files with columns image, problem, "
            f"solution; get it from {VIRFT_WHERE} (see README)"
        )
    if p.is_file():
        return [str(p)]

    def split_of(f: Path) -> str | None:
        parts = [*f.relative_to(p).parts[:-1], re.split(r"[-_.]", f.name)[0]]
        return next((s for s in parts if s in SPLIT_NAMES), None)

    chosen = [str(f) for f in files if split_of(f) == split]
    if chosen:
        return chosen
    if all(split_of(f) is None for f in files):
        return [str(f) for f in files]
    found = ", ".join(str(f.relative_to(p)) for f in files)
    raise DataError(f"{p}: no parquet file for split {split!r} (found: {found})")


def _from_parquet(p: Path, split: str, cache: str | None) -> Any:
    from datasets import load_dataset

    files = _parquet_files(p, split)
    try:
        return load_dataset("parquet", data_files={split: files}, split=split, cache_dir=cache)
    except Exception as err:  # pyarrow and datasets raise many types for a damaged file
        raise DataError(f"{p}: cannot load parquet ({type(err).__name__}: {err})") from None


def _from_hub(repo_id: str, split: str, cache: str | None) -> Any:
    from datasets import load_dataset

    try:
        return load_dataset(repo_id, split=split, cache_dir=cache)
    except Exception as err:  # offline, unknown repo, unknown split
        raise DataError(
            f"expected {repo_id} as a local folder or a Hugging Face dataset id; loading it from the Hub "
            "failed "
            f"({type(err).__name__}: {err}); download it (hf download --repo-type dataset {repo_id} "
            f"--local-dir DIR) and pass DIR (see README)"
        ) from None


def _check_columns(dataset: Any, source: str) -> None:
    missing = [c for c in COLUMNS if c not in dataset.column_names]
    if missing:
        have = ", ".join(dataset.column_names)
        raise DataError(
            f"{source}: missing column {missing[0]!r} (columns: {have}); expected image, problem, solution"
        )
