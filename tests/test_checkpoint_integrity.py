"""Checkpoint integrity: every file's size and SHA-256 in `meta.json`, verified at resume; a damaged newest
checkpoint is reported in one line and the previous complete one is used (the run still ends bit-identical to an
uninterrupted one); pruning never deletes the newest checkpoint that verifies; damaged files fail in one line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.test_faults import assert_restores, state_files
from tests.test_resume import FAST, assert_same_tensors, run_inprocess


def flip_bytes(path: Path, count: int = 64) -> None:
    data = bytearray(path.read_bytes())
    for i in range(min(count, len(data) // 4)):  # the last bytes: tensor data, away from the header
        data[len(data) - 1 - i] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncated policy": lambda f: (f / "policy.safetensors").write_bytes(
        (f / "policy.safetensors").read_bytes()[:50]
    ),
    "garbage policy": lambda f: (f / "policy.safetensors").write_bytes(b"garbage" * 20),
    "64 flipped bytes in the policy": lambda f: flip_bytes(f / "policy.safetensors"),
    "zero-byte state.pt": lambda f: (f / "state.pt").write_bytes(b""),
    "missing optimizer.pt": lambda f: (f / "optimizer.pt").unlink(),
    "garbage meta.json": lambda f: (f / "meta.json").write_text("{not json"),
}


def two_checkpoints(root: Path) -> dict:
    from vrft.checkpointing.layout import write_checkpoint

    weights = {}
    for step in (4, 8):
        files, weights[step] = state_files(seed=step, step=step)
        write_checkpoint(root, step, files, keep=3)
    return weights


def test_meta_holds_size_and_sha256_of_every_file(tmp_path):
    import hashlib

    root = tmp_path / "checkpoints"
    two_checkpoints(root)
    folder = root / "step-00000008"
    sums = json.loads((folder / "meta.json").read_text())["sha256"]
    assert sorted(sums) == ["optimizer.pt", "policy.safetensors", "scheduler.pt", "state.pt"]
    for name, want in sums.items():
        data = (folder / name).read_bytes()
        assert want == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_damaged_newest_falls_back_to_the_previous(tmp_path, how, caplog):
    from vrft.checkpointing.layout import resume_point

    weights = two_checkpoints(tmp_path / "checkpoints")
    DAMAGE[how](tmp_path / "checkpoints" / "step-00000008")
    with caplog.at_level(logging.WARNING):
        ckpt = resume_point(tmp_path, resume=True)
    assert ckpt.step == 4
    warned = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert len(warned) == 1 and "step-00000008" in warned[0] and "\n" not in warned[0]
    assert_restores(ckpt.path, weights[4], 4)


def test_no_checkpoint_verifies_is_one_line(tmp_path):
    from vrft.checkpointing.layout import resume_point
    from vrft.errors import CheckpointError

    two_checkpoints(tmp_path / "checkpoints")
    flip_bytes(tmp_path / "checkpoints" / "step-00000004" / "policy.safetensors")
    (tmp_path / "checkpoints" / "step-00000008" / "state.pt").write_bytes(b"")
    with pytest.raises(CheckpointError) as err:
        resume_point(tmp_path, resume=True)
    msg = str(err.value)
    assert "\n" not in msg and "step-00000008: state.pt" in msg and "step-00000004: policy.safetensors" in msg


def test_prune_never_deletes_the_newest_verified(tmp_path):
    from vrft.checkpointing.layout import complete_checkpoints, prune

    root = tmp_path / "checkpoints"
    two_checkpoints(root)
    (root / "latest").write_text("step-00000008\n")
    flip_bytes(root / "step-00000008" / "policy.safetensors")
    prune(root, keep=1)
    assert [c.step for c in complete_checkpoints(root)] == [4, 8]  # 4 is the newest that verifies


@pytest.mark.parametrize("content", [b"", b"garbage", b"\x80\x02garbage"])
def test_damaged_files_without_checksums_fail_in_one_line(tmp_path, content):
    """A checkpoint from before checksums: the loaders' own errors still end in one line naming the file."""
    from vrft.checkpointing.state import load_file as load_state
    from vrft.checkpointing.state import load_policy
    from vrft.errors import CheckpointError

    path = tmp_path / "x"
    path.write_bytes(content)
    for load in (load_state, lambda p: load_policy(torch.nn.Linear(2, 2), p)):
        with pytest.raises(CheckpointError) as err:
            load(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_resume_past_a_damaged_newest_checkpoint_is_bit_exact(tmp_path):
    run = [*FAST, "trainer.max_steps=6", "checkpoint.every_n_steps=2", "checkpoint.keep=3"]
    run_inprocess(run, tmp_path)
    root = tmp_path / "checkpoints"
    whole = {  # copies: load_file maps the file, and its bytes are flipped below
        s: {k: v.clone() for k, v in load_file(root / f"step-0000000{s}" / "policy.safetensors").items()}
        for s in ("4", "6")
    }
    flip_bytes(root / "step-00000006" / "policy.safetensors")
    (root / "step-00000004" / "optimizer.pt").write_bytes(b"")  # 4 damaged too: the run goes back to 2
    out = run_inprocess([*run, "resume=true"], tmp_path)
    assert out["resumed_from"] == 2
    for name in ("4", "6"):
        assert_same_tensors(whole[name], load_file(root / f"step-0000000{name}" / "policy.safetensors"))
