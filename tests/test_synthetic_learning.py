"""The synthetic world visibly learns: a short SFT run gives a starting checkpoint that half-knows a small
classification world, then a short GRPO run from it raises the training reward and the held-out accuracy.

Both runs go through `vrft.run.run` with the normal config (the ~0.5 M-parameter tiny Qwen2-VL, a 2 x 2 colour x shape
world). Marked slow: a few minutes on a 2-core CPU.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import compose_run

WORLD = [
    "task.synthetic.colors=[red,blue]",
    "task.synthetic.shapes=[circle,square]",
    "task.synthetic.novel=[blue square]",
    "task.synthetic.novel_in_base=0",
    "+task.synthetic.splits={base_train: 200, base_val: 2, base_test: 30}",
]
COMMON = ["model=tiny_qwen2_vl", "logger=none", "trainer.num_threads=2", "eval.batch_size=64", *WORLD]


def rewards(run_dir) -> list[float]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(x)["train/reward"] for x in lines if "train/reward" in json.loads(x)]


@pytest.mark.slow
def test_grpo_raises_reward_and_held_out_accuracy(tmp_path, cache_dir):
    from vrft.run import run

    sft = compose_run(
        [
            "task=synth_cls_base",
            "algo=synth_sft",
            "algo.lr=3e-3",
            "algo.prompts_per_step=32",
            "algo.prompts_per_batch=32",
            "trainer.max_steps=60",
            "eval.before=false",
            *COMMON,
        ],
        tmp_path / "sft",
        cache_dir,
    )
    start = run(sft)
    assert start["status"] == "ok"
    grpo = compose_run(
        [
            "task=synth_cls_base",
            "algo=synth_grpo",
            f"model.path={tmp_path / 'sft' / 'final_model'}",
            "model.tiny=null",
            "algo.lr=1e-4",
            "trainer.max_steps=40",
            *COMMON,
        ],
        tmp_path / "grpo",
        cache_dir,
    )
    summary = run(grpo)
    assert summary["initial"] == pytest.approx(start["final"])  # the GRPO run starts from the SFT checkpoint
    assert 0 < summary["initial"] < 90, "the starting checkpoint should half-know the world"
    r = rewards(tmp_path / "grpo")
    assert sum(r[-10:]) / 10 > sum(r[:10]) / 10 + 0.1, r
    assert summary["final"] > summary["initial"] + 5, summary
