"""Training-state checkpoints on disk: atomic step folders under `<run>/checkpoints`, and which one to resume.

Layout of a run folder's checkpoints:

    checkpoints/step-00000008/   one complete checkpoint (the files are `vrft.checkpointing.state`'s)
    checkpoints/step-00000012/
    checkpoints/latest           the name of the newest complete folder ("step-00000012")

A checkpoint is written into a temporary folder in the same directory (`.tmp-step-XXXXXXXX-*`), every file and
the folder are fsynced, the folder is renamed into place (`os.replace`, atomic on one file system), and `latest`
is replaced the same way last. Only then are older folders beyond `keep` deleted, so a crash at any moment leaves
the previous complete checkpoint intact. A folder named `step-*` is complete by construction; `meta.json`, the
last file written, is checked as well. Temporary folders of a crashed write are deleted by the next write.
`meta.json` holds each file's size and SHA-256 (`vrft.checkpointing.integrity`); a resume takes the newest checkpoint
that verifies, reporting each newer damaged one in one line, and pruning never deletes the newest verified one.
Left out: what goes into a checkpoint (`vrft.checkpointing.state`), the Lightning hooks that call this
(`vrft.checkpointing.callbacks`), remote storage, and checkpoints shared by several runs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from vrft.checkpointing.integrity import checksums, damage
from vrft.errors import CheckpointError

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
LATEST = "latest"
META = "meta.json"
_STEP = re.compile(r"^step-(\d{8})$")
_TMP = ".tmp-"


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int


def step_name(step: int) -> str:
    return f"step-{step:08d}"


def checkpoint_root(run_dir: Path | str) -> Path:
    return Path(run_dir) / CHECKPOINTS


def complete_checkpoints(root: Path | str) -> list[Checkpoint]:
    """Complete checkpoints under `root`, oldest step first (an absent folder has none)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _STEP.match(child.name)
        if m and child.is_dir() and (child / META).is_file():
            found.append(Checkpoint(child, int(m.group(1))))
    return sorted(found, key=lambda c: c.step)


def latest_checkpoint(root: Path | str) -> Checkpoint | None:
    """The newest complete checkpoint (the one `latest` names, or a newer complete one a crash left unnamed)."""
    done = complete_checkpoints(root)
    return done[-1] if done else None


def read_latest(root: Path | str) -> str | None:
    """The folder name `latest` holds, or None."""
    path = Path(root) / LATEST
    if not path.is_file():
        return None
    return path.read_text().strip() or None


def fsync_path(path: Path) -> None:
    """Flush a file or folder to disk (folders: their entries, so a rename survives a power cut)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(folder: Path, name: str) -> Path:
    return folder / f"{_TMP}{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically: a temporary file in the same folder, fsync, os.replace."""
    tmp = temp_name(path.parent, path.name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for any file
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def write_checkpoint(
    root: Path | str,
    step: int,
    writers: Mapping[str, Callable[[Path], None]],
    *,
    keep: int = 2,
    meta: Mapping | None = None,
) -> Checkpoint:
    """Write one checkpoint: `writers[name](path)` writes file `name`; returns the complete checkpoint.

    On any error the temporary folder is removed and the previous checkpoints and `latest` are untouched.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / step_name(step)
    tmp = temp_name(root, final.name)
    try:
        tmp.mkdir()
        for name, write in writers.items():
            write(tmp / name)
            fsync_path(tmp / name)
        info = {
            "step": step,
            "files": sorted(writers),
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **(meta or {}),
            "sha256": checksums(tmp, writers),  # read back from disk: the sums are of what landed there
        }
        (tmp / META).write_text(json.dumps(info, indent=1))
        fsync_path(tmp / META)
        fsync_path(tmp)
        move_into_place(tmp, final)
        fsync_path(root)
        write_text_atomic(root / LATEST, final.name + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prune(root, keep, verified=final)
    return Checkpoint(final, step)


def move_into_place(tmp: Path, final: Path) -> None:
    """Rename `tmp` to `final`; an existing `final` (the same step written again) is set aside, then deleted."""
    if not final.exists():
        os.replace(tmp, final)
        return
    old = temp_name(final.parent, "old-" + final.name)
    os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def prune(root: Path, keep: int, verified: Path | None = None) -> None:
    """Delete complete checkpoints beyond the newest `keep` and stale temp files; never the one `latest` names, nor
    the newest that verifies (`verified`, a folder just written and checksummed from disk, or found here)."""
    done = complete_checkpoints(root)
    named = read_latest(root)
    good = verified if verified is not None else newest_verified(done)
    for ckpt in done[: max(0, len(done) - max(1, keep))]:
        if ckpt.path.name != named and ckpt.path != good:
            shutil.rmtree(ckpt.path, ignore_errors=True)
    for child in root.iterdir():  # left by a write that was killed
        if child.name.startswith(_TMP) and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        elif child.name.startswith(_TMP):
            child.unlink(missing_ok=True)


def newest_verified(done: list[Checkpoint]) -> Path | None:
    """The newest of `done` (oldest first) whose files match their checksums; checks from the newest down."""
    for ckpt in reversed(done):
        if damage(ckpt.path) is None:
            return ckpt.path
    return None


def resume_point(run_dir: Path | str, resume: bool) -> Checkpoint | None:
    """The checkpoint a run continues from (resume=true), after checking the run folder fits the request.

    resume=true needs a complete checkpoint whose files verify: the newest such is used, and each newer damaged
    one is reported in one line; resume=false refuses a folder that already holds checkpoints, so a finished or
    crashed run is never overwritten by accident.
    """
    root = checkpoint_root(run_dir)
    done = complete_checkpoints(root)
    if not resume and done:
        raise CheckpointError(
            f"{run_dir} already holds checkpoints (newest {done[-1].path.name}); set resume=true to "
            "continue that run, or choose another hydra.run.dir"
        )
    if not resume:
        return None
    if not done:
        raise CheckpointError(
            f"resume=true but {root} holds no complete checkpoint; set hydra.run.dir to the "
            "folder of the run to continue"
        )
    problems = []
    for ckpt in reversed(done):
        problem = damage(ckpt.path)
        if problem is None:
            return ckpt
        problems.append(f"{ckpt.path.name}: {problem}")
        log.warning("checkpoint %s is damaged (%s); trying the one before", ckpt.path, problem)
    raise CheckpointError(f"resume=true but no checkpoint under {root} verifies ({'; '.join(problems)})")
