"""Writes that fail: one line saying what could not be written, why, whether its disk is full, and what is kept;
and the final model written into a temporary folder and renamed into place.

A full disk reaches the code as different exceptions: `torch.save` raises RuntimeError ("[enforce fail at
inline_container.cc:672] . unexpected pos 576 vs 534", no reason given), safetensors a SafetensorError ("I/O error:
No space left on device (os error 28)"), Python an OSError(ENOSPC). So `WRITE_ERRORS` catches all three and
`write_failure` asks the disk for its free space as well, rather than trusting the message. Left out: freeing space,
and retrying a write.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from safetensors import SafetensorError

from vrft.checkpointing.layout import move_into_place, temp_name
from vrft.checkpointing.state import first_line, usual_mode
from vrft.errors import CheckpointError

WRITE_ERRORS = (OSError, RuntimeError, SafetensorError)
FULL = 64 * 2**20  # under this many free bytes a failed write is put down to a full disk


def disk_full(folder: Path, err: BaseException) -> str | None:
    """'the disk holding <folder> is full (N MiB free)' when the error or the free space says so, else None."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    said = getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "os error 28" in str(err)
    if said or (free is not None and free < FULL):
        room = f" ({free / 2**20:.1f} MiB free)" if free is not None else ""
        return f"the disk holding {folder} is full{room}"
    return None


def write_failure(what: str, folder: Path, err: BaseException, kept: str) -> CheckpointError:
    """A one-line CheckpointError: `what` could not be written under `folder`, the reason, and `kept`."""
    full = disk_full(folder, err)
    reason = f"{full}; {first_line(err)}" if full else first_line(err)
    return CheckpointError(f"cannot write {what} under {folder}: {reason}; {kept}")


def save_final(policy, processor, folder: Path, kept: str) -> None:
    """The trained policy in Hugging Face format (LoRA merged into the weights) with its processor, written into
        a temporary folder beside `folder` and renamed into place, so `folder` is never half-written; its safetensors
    files get the mode the umask allows, as its other files."""
    folder = Path(folder)
    model = policy.merge_and_unload() if hasattr(policy, "merge_and_unload") else policy
    tmp = temp_name(folder.parent, folder.name)
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        for path in tmp.rglob("*.safetensors"):
            usual_mode(path)
        move_into_place(tmp, folder)
    except WRITE_ERRORS as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise write_failure(folder.name, folder.parent, err, kept) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fd = os.open(folder.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
