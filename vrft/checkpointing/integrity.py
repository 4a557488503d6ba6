"""Checksums of a checkpoint's files: computed when it is written, kept in its `meta.json`, verified before use.

`checksums` reads every written file back from disk and returns its SHA-256 (so the sum is of what landed on disk,
not of what was meant to be written); `write_checkpoint` stores them under `meta.json`'s `"sha256"`. `damage` says
what is wrong with a checkpoint folder: an unreadable `meta.json`, a file it lists that is missing, or a file whose
size or SHA-256 differs (truncated, zeroed, flipped bytes). A checkpoint written before checksums existed (no
`"sha256"` key) is checked for its files only. Left out: repairing a damaged file, and checksums of `final_model/`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def checksums(folder: Path, names) -> dict[str, dict]:
    """Name -> {"bytes": size, "sha256": hex} of each file `name` in `folder`, read back from disk."""
    return {
        n: {"bytes": (folder / n).stat().st_size, "sha256": file_sha256(folder / n)} for n in sorted(names)
    }


def read_meta(folder: Path) -> dict:
    """`folder/meta.json` as a dict; ValueError (with the reason) when it is unreadable or not an object."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"meta.json unreadable ({type(err).__name__})") from None
    if not isinstance(meta, dict):
        raise ValueError("meta.json is not a JSON object")
    return meta


def damage(folder: Path) -> str | None:
    """What is wrong with the checkpoint in `folder` (one phrase), or None when every file verifies."""
    folder = Path(folder)
    try:
        meta = read_meta(folder)
    except ValueError as err:
        return str(err)
    sums = meta.get("sha256")
    names = (
        sorted(sums) if isinstance(sums, dict) else [n for n in meta.get("files", []) if isinstance(n, str)]
    )
    for name in names:
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if not isinstance(sums, dict):
            continue
        want = sums[name] if isinstance(sums[name], dict) else {}
        if path.stat().st_size != want.get("bytes"):
            return f"{name} has {path.stat().st_size} bytes, {want.get('bytes')} were written"
        if file_sha256(path) != want.get("sha256"):
            return f"{name} differs from its checksum (damaged)"
    return None
