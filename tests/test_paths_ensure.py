"""`vrft.paths.ensure`, the one atomic builder of cached folders (tokenizers, tiny models, benchmark models):
a finished folder is reused, a half-written one never counts as finished, a failed build leaves nothing behind."""

from __future__ import annotations

import pytest

from vrft.paths import ensure


def _writer(calls):
    def write(tmp):
        calls.append(tmp)
        (tmp / "weights.bin").write_text("w")
        (tmp / "done.json").write_text("{}")

    return write


def test_builds_once_and_reuses_the_finished_folder(tmp_path):
    calls = []
    folder = tmp_path / "cache" / "model-abc"
    assert ensure(folder, _writer(calls), marker="done.json") == folder
    assert ensure(folder, _writer(calls), marker="done.json") == folder
    assert len(calls) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["done.json", "weights.bin"]
    assert [p.name for p in folder.parent.iterdir()] == ["model-abc"]  # no temporary sibling left


def test_a_folder_without_its_marker_is_not_taken_for_a_finished_one(tmp_path):
    folder = tmp_path / "model-abc"
    folder.mkdir()
    (folder / "weights.bin").write_text("half")  # an interrupted copy by hand, say
    calls = []
    with pytest.raises(OSError):
        ensure(folder, _writer(calls), marker="done.json")
    assert len(calls) == 1  # it tried to build rather than returning the half folder
    assert [p.name for p in tmp_path.iterdir()] == ["model-abc"]


def test_a_failed_build_leaves_no_folder(tmp_path):
    def fail(tmp):
        (tmp / "partial").write_text("x")
        raise RuntimeError("build failed")

    with pytest.raises(RuntimeError, match="build failed"):
        ensure(tmp_path / "model-abc", fail, marker="done.json")
    assert list(tmp_path.iterdir()) == []
