"""A Hydra callback that keeps a run's files in its folders: the output folder must be writable, and library
caches go to the cache folder.

Hydra creates the run folder (and writes `.hydra/`) before vrft's code runs, so an unwritable `hydra.run.dir`
would end in Hydra's stack trace; `RunFolderCheck` prints the same one line as every other user error
(`vrft: error: ...`, exit code 2). It checks the nearest existing ancestor of the folder (a folder, writable)
without creating anything. It also points matplotlib's font cache (imported by Lightning's torchmetrics) at
`paths.cache_dir` unless MPLCONFIGDIR is set, so nothing lands in $HOME, and torch.compile's caches (inductor, triton)
at `paths.cache_dir/torch_compile` unless TORCHINDUCTOR_CACHE_DIR / TRITON_CACHE_DIR are set (they default to
$TMPDIR). Left out: running out of space later
(checkpoint writes report that themselves), and runs started without Hydra (`vrft.run.run` called directly).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf


def unwritable_reason(folder: Path | str) -> str | None:
    """Why `folder` cannot be created or written, or None when it can."""
    probe = Path(folder).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return None


def _refuse(key: str, folder: str, reason: str) -> None:
    print(f"vrft: error: {key}={folder}: cannot write the output folder ({reason})", file=sys.stderr)
    sys.exit(2)


def keep_caches_inside(config: DictConfig) -> None:
    """Library caches that would default to $HOME go under `paths.cache_dir` (an explicit setting wins)."""
    cache = OmegaConf.select(config, "paths.cache_dir")
    if cache:
        os.environ.setdefault("MPLCONFIGDIR", str(Path(str(cache)) / "matplotlib"))
        compiled = Path(str(cache)) / "torch_compile"
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(compiled / "inductor"))
        os.environ.setdefault("TRITON_CACHE_DIR", str(compiled / "triton"))


class RunFolderCheck(Callback):
    def _check(self, config: DictConfig, key: str) -> None:
        keep_caches_inside(config)
        folder = OmegaConf.select(config, key)
        if folder is None:
            return
        reason = unwritable_reason(str(folder))
        if reason is not None:
            _refuse(key, str(folder), reason)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir")
