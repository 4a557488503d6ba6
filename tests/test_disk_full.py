"""A full disk while writing a checkpoint or the final model: one line naming the disk and what is kept.

The libraries' real failures are produced in a forked child whose file-size limit (RLIMIT_FSIZE, with SIGXFSZ
ignored) makes every write past a few bytes fail as a full disk does: `torch.save` raises RuntimeError,
safetensors SafetensorError, neither an OSError. The child reports back through a pipe (its stdout and stderr are
files under pytest, which the limit blocks as well). A run in-process then meets the exact exceptions the libraries
raise on ENOSPC, and its message names the full disk.
"""

from __future__ import annotations

import json
import os
import resource
import signal
from pathlib import Path

import pytest
import torch

from tests.test_faults import state_files
from tests.test_resume import FAST, run_inprocess, summary


def limited_child(fn, limit: int) -> str:
    """Run `fn()` in a forked child under a file-size limit of `limit` bytes; return what it returns (a str)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
            out = fn()
        except BaseException as err:
            out = f"UNCAUGHT {type(err).__name__}: {err}"
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return out


@pytest.mark.parametrize(("limit", "raiser"), [(100, "safetensors"), (1000, "torch.save")])
def test_real_write_failures_become_one_line(tmp_path, limit, raiser):
    from vrft.checkpointing.callbacks import kept_line
    from vrft.checkpointing.disk import WRITE_ERRORS, write_failure
    from vrft.checkpointing.layout import write_checkpoint

    root = tmp_path / "checkpoints"
    write_checkpoint(root, 4, state_files(seed=4, step=4)[0])
    files8, _ = state_files(seed=8, step=8)

    def write():
        try:
            write_checkpoint(root, 8, files8)
        except WRITE_ERRORS as err:
            return f"{type(err).__name__}|{write_failure('checkpoint step 8', root, err, kept_line(root))}"
        return "written"

    kind, msg = limited_child(write, limit).split("|", 1)
    assert kind == {"safetensors": "SafetensorError", "torch.save": "RuntimeError"}[raiser]
    assert "\n" not in msg and msg.startswith(f"cannot write checkpoint step 8 under {root}: ")
    assert msg.endswith(f"the last complete checkpoint is {root / 'step-00000004'}")
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step-00000004"]


class Processor:
    def save_pretrained(self, folder):
        (Path(folder) / "processor.json").write_text("{}")


def tiny_hf_model():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=16))


def test_final_model_is_renamed_into_place_and_never_half_written(tmp_path):
    from vrft.checkpointing.disk import save_final
    from vrft.errors import CheckpointError

    final = tmp_path / "final_model"
    final.mkdir()
    (final / "old.txt").write_text("first life")  # a previous final model stays until the new one is whole

    def write():
        try:
            save_final(tiny_hf_model(), Processor(), final, "the last complete checkpoint is X")
        except CheckpointError as err:
            return str(err)
        return "written"

    msg = limited_child(write, 2000)
    assert "\n" not in msg and msg.startswith(f"cannot write final_model under {tmp_path}: "), msg
    assert msg.endswith("the last complete checkpoint is X")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final_model"]
    assert sorted(p.name for p in final.iterdir()) == ["old.txt"]

    save_final(tiny_hf_model(), Processor(), final, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final_model"]
    assert {"config.json", "model.safetensors", "processor.json"} <= {p.name for p in final.iterdir()}
    assert not (final / "old.txt").exists()


ENOSPC_RAISED = {  # what each library raises on a full disk (torch 2.x, safetensors 0.x)
    "safetensors": lambda: __import__("safetensors").SafetensorError(
        "Error while serializing: I/O error: No space left on device (os error 28)"
    ),
    "torch.save": lambda: RuntimeError(
        "[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"
    ),
}


@pytest.mark.parametrize("raiser", sorted(ENOSPC_RAISED))
def test_full_disk_in_a_run_names_the_disk_and_the_last_checkpoint(tmp_path, monkeypatch, raiser):
    import shutil

    import vrft.checkpointing.callbacks as callbacks
    import vrft.checkpointing.disk as disk
    from vrft.errors import CheckpointError

    real, calls = callbacks.writers, []

    def full_on_second(*args):
        files = real(*args)
        calls.append(1)
        if len(calls) == 2:
            files["optimizer.pt"] = lambda p: (_ for _ in ()).throw(ENOSPC_RAISED[raiser]())
        return files

    monkeypatch.setattr(callbacks, "writers", full_on_second)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda p: usage._replace(free=3 * 2**20))
    with pytest.raises(CheckpointError) as err:
        run_inprocess([*FAST, "trainer.max_steps=4", "checkpoint.every_n_steps=2"], tmp_path)
    msg, root = str(err.value), tmp_path / "checkpoints"
    assert "\n" not in msg and f"the disk holding {root} is full (3.0 MiB free)" in msg
    assert msg.endswith(f"the last complete checkpoint is {root / 'step-00000002'}")
    assert summary(tmp_path)["status"] == "failed"
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step-00000002"]
    json.loads((root / "step-00000002" / "meta.json").read_text())
