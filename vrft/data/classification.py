"""Classification readers: CoOp-style split files and the FGVC-Aircraft release, behind one entry point.

`read_classification(root, layout, split)` returns one `ClassificationRecord` per image of the split, with the
class name exactly as the dataset writes it (Pets with underscores, aircraft variants like "707-320"). Layouts
live in `CLASSIFICATION_LAYOUTS`:

- `coop_split`: `split_zhou_<Dataset>.json` =
  `{"train"|"val"|"test": [[relpath, label_int, classname], ...]}`, images under the dataset's image folder
  (Pets `images/`, Flowers `jpg/`, Cars the dataset folder itself); `root` is the dataset folder or the
  split file.
- `fgvc_aircraft`: `data/images/<id>.jpg`, `data/variants.txt`, `data/images_variant_<split>.txt` lines
  "<image_id> <variant name>"; `root` holds `data/` (the release) or is `data/` itself (the CoOp copy).

An image path that is absolute or climbs out of the image folder (`..`) is one line naming the split file and
entry (`skip_bad=True`: that entry is skipped and counted). Image files are not opened here
(`vrft.data.images.filter_readable` checks them). Left out: the raw Flowers
`.mat` and Cars devkit layouts (the CoOp split files cover the paper's test sets), FGVC's copyright-banner
crop (the paper used the images as released), few-shot sampling (`vrft.data.fewshot`).
"""

from __future__ import annotations

from pathlib import Path

from vrft.data.bad import BadData, inside
from vrft.data.images import read_json, require_path
from vrft.data.records import ClassificationRecord
from vrft.errors import DataError
from vrft.registry import Registry

CLASSIFICATION_LAYOUTS = Registry("classification layout")

COOP_WHERE = "the CoOp dataset instructions, https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md"
FGVC_WHERE = "https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/ (fgvc-aircraft-2013b.tar.gz)"

COOP_IMAGE_DIRS = {
    "split_zhou_OxfordPets.json": "images",
    "split_zhou_OxfordFlowers.json": "jpg",
    "split_zhou_StanfordCars.json": "",
    "split_zhou_Caltech101.json": "101_ObjectCategories",
    "split_zhou_DescribableTextures.json": "images",
    "split_zhou_EuroSAT.json": "2750",
    "split_zhou_Food101.json": "images",
    "split_zhou_SUN397.json": "SUN397",
    "split_zhou_UCF101.json": "UCF-101-midframes",
}
"""Image folder of each CoOp split file, relative to the split file's folder (CoOp's DATASETS.md)."""


def read_classification(
    root: Path | str, layout: str, split: str, image_dir: Path | str | None = None, skip_bad: bool = False
) -> list[ClassificationRecord]:
    """Records of `split` ("train", "val", "test") of the dataset at `root` in the named layout.

    `image_dir` overrides the layout's image folder. An unknown layout lists the registered ones. `skip_bad`
    skips and counts entries whose image path leaves the image folder instead of stopping.
    """
    reader = CLASSIFICATION_LAYOUTS.get(layout)
    return reader(Path(root), split, Path(image_dir) if image_dir is not None else None, skip_bad)


def class_names(records: list[ClassificationRecord]) -> list[str]:
    """The class names of `records`, ordered by label id (then name)."""
    return [name for _, name in sorted({(r.label_id, r.label) for r in records})]


def _coop_split_file(root: Path) -> Path:
    what = "a CoOp dataset folder holding split_zhou_<Dataset>.json and its image folder"
    require_path(root, what, COOP_WHERE)
    if root.is_file():
        return root
    found = sorted(root.glob("split_zhou_*.json"))
    if not found:
        raise DataError(
            f"expected {root}/split_zhou_<Dataset>.json: {what}; get it from {COOP_WHERE} (see README)"
        )
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise DataError(f"{root}: several split files ({names}); pass the split file itself as the path")
    return found[0]


def _coop_entry(entry: object, split_file: Path, where: str) -> tuple[str, int, str]:
    ok = isinstance(entry, list) and len(entry) == 3
    if ok:
        relpath, label_id, name = entry
        ok = isinstance(relpath, str) and isinstance(label_id, int) and isinstance(name, str)
    if not ok:
        raise DataError(
            f"{split_file}: {where} should be [relpath, label_int, classname], got {entry!r:.100}"
        )
    return relpath, label_id, name


@CLASSIFICATION_LAYOUTS.register("coop_split")
def read_coop_split(
    root: Path, split: str, image_dir: Path | None = None, skip_bad: bool = False
) -> list[ClassificationRecord]:
    """Records of one split of a CoOp `split_zhou_<Dataset>.json` file (see the module docstring)."""
    split_file = _coop_split_file(root)
    data = read_json(split_file, "a CoOp split file", COOP_WHERE)
    if not isinstance(data, dict):
        raise DataError(f"{split_file}: expected an object with keys train, val, test")
    if split not in data:
        raise DataError(f"{split_file}: missing key {split!r} (splits in the file: {', '.join(data)})")
    entries = data[split]
    if not isinstance(entries, list) or not entries:
        raise DataError(
            f"{split_file}: key {split!r} should be a non-empty list of [relpath, label, classname]"
        )
    if image_dir is None:
        image_dir = split_file.parent / COOP_IMAGE_DIRS.get(split_file.name, "")
    require_path(image_dir, f"the image folder of {split_file.name}", COOP_WHERE)
    records, names = [], {}
    bad = BadData(split_file, skip_bad, "entries")
    for i, entry in enumerate(entries):
        relpath, label_id, name = _coop_entry(entry, split_file, f"{split}[{i}]")
        if names.setdefault(label_id, name) != name:
            raise DataError(
                f"{split_file}: {split}[{i}] gives label {label_id} the name {name!r}, "
                f"but earlier entries call it {names[label_id]!r}"
            )
        where = f"{split_file}: {split}[{i}]"
        if bad.check(lambda relpath=relpath, where=where: inside(relpath, image_dir, where)) is None:
            continue
        records.append(ClassificationRecord(str(image_dir / relpath), name, label_id, relpath))
    bad.report(len(entries))
    return _nonempty(records, split_file)


def _read_lines(path: Path) -> list[str]:
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read ({err})") from None


@CLASSIFICATION_LAYOUTS.register("fgvc_aircraft")
def read_fgvc_aircraft(
    root: Path, split: str, image_dir: Path | None = None, skip_bad: bool = False
) -> list[ClassificationRecord]:
    """Records of one split of the FGVC-Aircraft release, labelled by variant (100 classes)."""
    what = "FGVC-Aircraft: data/images/*.jpg, data/variants.txt, data/images_variant_{train,val,test}.txt"
    require_path(root, what, FGVC_WHERE)
    data = root / "data" if (root / "data").is_dir() else root
    variants_file = require_path(data / "variants.txt", what, FGVC_WHERE)
    variants = [v for v in _read_lines(variants_file) if v]
    index = {name: i for i, name in enumerate(variants)}
    split_file = data / f"images_variant_{split}.txt"
    if not split_file.exists():
        have = sorted(p.name[len("images_variant_") : -4] for p in data.glob("images_variant_*.txt"))
        found = ", ".join(have) or "none"
        raise DataError(
            f"expected {split_file}: FGVC-Aircraft split {split!r} (splits found: {found}); "
            f"get it from {FGVC_WHERE} (see README)"
        )
    image_dir = image_dir if image_dir is not None else data / "images"
    require_path(image_dir, "the FGVC-Aircraft images (<image_id>.jpg)", FGVC_WHERE)
    records = []
    bad = BadData(split_file, skip_bad, "entries")
    lines = _read_lines(split_file)
    for lineno, line in enumerate(lines, start=1):
        if not line:
            continue
        image_id, _, variant = line.partition(" ")
        if not variant:
            raise DataError(f"{split_file}:{lineno}: expected '<image_id> <variant>', got {line!r}")
        if variant not in index:
            raise DataError(f"{split_file}:{lineno}: variant {variant!r} is not listed in {variants_file}")
        where = f"{split_file}:{lineno}:"
        name = bad.check(lambda n=f"{image_id}.jpg", where=where: inside(n, image_dir, where))
        if name is not None:
            records.append(ClassificationRecord(str(image_dir / name), variant, index[variant], image_id))
    bad.report(sum(1 for line in lines if line))
    return _nonempty(records, split_file)


def _nonempty(records: list[ClassificationRecord], split_file: Path) -> list[ClassificationRecord]:
    if not records:
        raise DataError(f"{split_file}: no images listed")
    return records
