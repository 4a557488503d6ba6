"""GRPO learns in the synthetic world, end to end through `python -m vrft`: from a briefly trained base model
(the default base recipe cut to a few steps, so it knows the answer format but names classes unreliably), a short
few-shot GRPO run of the default experiment raises the training reward and the held-out accuracy over the
starting checkpoint. A few minutes on 2 cores, so marked slow (CI runs
it; `make test-quick` skips it). The full-size figures are docs/results.md's (the default run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_resume import run_vrft

BASE = ["experiment=synth_base_cls", "trainer.max_steps=30", "algo.warmup_steps=10", "logger=none"]
GRPO_STEPS = 80
WINDOW = 20  # steps averaged at each end of the reward curve


def rewards(run_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["train/reward"] for r in rows if "train/reward" in r]


@pytest.mark.slow
def test_short_grpo_run_raises_reward_and_held_out_accuracy(tmp_path):
    base = run_vrft(tmp_path / "base", BASE, timeout=900)
    assert base.returncode == 0, base.stderr[-2000:]
    start = tmp_path / "base" / "final_model"
    grpo = run_vrft(
        tmp_path / "grpo",
        [f"model.path={start}", f"trainer.max_steps={GRPO_STEPS}", "logger=none", "save_final_model=false"],
        timeout=900,
    )
    assert grpo.returncode == 0, grpo.stderr[-2000:]
    summary = json.loads((tmp_path / "grpo" / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["steps"] == GRPO_STEPS
    curve = rewards(tmp_path / "grpo")
    assert len(curve) == GRPO_STEPS
    first, last = sum(curve[:WINDOW]) / WINDOW, sum(curve[-WINDOW:]) / WINDOW
    assert last > first + 0.1, f"training reward {first:.3f} -> {last:.3f}"
    assert summary["final"] >= summary["initial"] + 5.0, (
        f"held-out accuracy {summary['initial']:.2f} -> {summary['final']:.2f}"
    )
