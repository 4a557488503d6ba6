"""Where vrft finds its config tree and presets, independent of the working directory.

`ROOT` is the checkout (the folder holding `conf/`, `experiments/`, `sweeps/`); the OmegaConf resolver
`${vrft_root:}` exposes it to YAML. `ensure` writes a cache folder once, atomically (a temporary sibling renamed
into place), for the synthetic worlds, the packaged tokenizers and the tiny and benchmark models. Left out: installs without the checkout (a wheel); vrft runs from a clone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"
EXPERIMENTS_DIR = ROOT / "experiments"
SWEEPS_DIR = ROOT / "sweeps"


def register_resolvers() -> None:
    """Register `${vrft_root:}` once (idempotent)."""
    if not OmegaConf.has_resolver("vrft_root"):
        OmegaConf.register_new_resolver("vrft_root", lambda: str(ROOT))


def ensure(folder: Path, write: Callable[[Path], None], marker: str | None = None) -> Path:
    """`folder`, written by `write(tmp)` into a temporary sibling renamed into place when it is not there yet.

    With `marker`, the folder counts as there only once it holds that file (written last by `write`)."""

    def done() -> bool:
        return (folder / marker).is_file() if marker else folder.is_dir()

    if done():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        write(tmp)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not done():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
