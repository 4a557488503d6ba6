"""The detection ablation (experiments/synth_det_ablation.yaml, conf/ablation/det_*.yaml): every arm composes with
its intended reward set and differs from the paper's arm in nothing else; the sweep names one folder per arm and
seed; a mistyped arm is refused."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import compose_run
from tests.multirun_stub import stub_multirun
from vrft.assemble import build_rewards
from vrft.paths import CONF_DIR, ROOT
from vrft.presets import unknown_preset

ARMS = sorted(p.stem for p in (CONF_DIR / "ablation").glob("det_*.yaml"))
PAPER_SET = {"iou", "confidence", "format"}
ENV = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")} | {"WANDB_MODE": "offline"}


def _run(arm: str, tmp_path: Path, cache_dir: Path):
    return compose_run(["experiment=synth_det_ablation", f"ablation={arm}"], tmp_path, cache_dir)


def _kwargs(run) -> dict[str, dict]:
    return {s.name: s.kwargs for s in build_rewards(run).specs}


# arm -> (reward names, {reward: expected kwargs subset}, prompt.think, algo.kind)
EXPECTED = {
    "det_paper": (PAPER_SET, {"iou": {"matching": "greedy", "iou_schedule": "fixed"}}, "on", "grpo"),
    "det_count": (PAPER_SET | {"count"}, {}, "on", "grpo"),
    "det_map": ({"map", "format"}, {}, "on", "grpo"),
    "det_hungarian": (
        PAPER_SET,
        {"iou": {"matching": "hungarian"}, "confidence": {"matching": "hungarian"}},
        "on",
        "grpo",
    ),
    "det_dynamic": (
        PAPER_SET,
        {"iou": {"iou_schedule": "dynamic"}, "confidence": {"iou_schedule": "dynamic"}},
        "on",
        "grpo",
    ),
    "det_think_off": (PAPER_SET, {"format": {"think": "off"}}, "off", "grpo"),
    "det_sft": (PAPER_SET, {}, "on", "sft"),
}


def test_the_arms_are_the_seven_of_the_study():
    assert set(ARMS) == set(EXPECTED)


@pytest.mark.parametrize("arm", sorted(EXPECTED))
def test_arm_composes_with_its_reward_set(arm, tmp_path, cache_dir):
    names, kwargs, think, kind = EXPECTED[arm]
    run = _run(arm, tmp_path, cache_dir)
    got = _kwargs(run)
    assert set(got) == names
    for reward, sub in kwargs.items():
        assert sub.items() <= got[reward].items(), reward
    assert run.prompt.think == think and got["format"]["think"] == think
    assert run.algo.kind == kind


@pytest.mark.parametrize("arm", sorted(EXPECTED))
def test_arms_share_the_budget_and_protocol(arm, tmp_path, cache_dir):
    """Apart from the reward set, the think mode and (SFT) the algorithm, an arm is the paper's arm."""
    paper, run = _run("det_paper", tmp_path, cache_dir), _run(arm, tmp_path, cache_dir)
    assert run.algo.lr == paper.algo.lr == 5.0e-5 and run.algo.prompts_per_step == paper.algo.prompts_per_step
    same = dataclasses.replace(run, reward=paper.reward, prompt=paper.prompt, algo=paper.algo)
    assert same == paper
    assert run.task.name == "synth_det_fewshot" and run.trainer.max_steps == 300


def test_sweep_params_and_no_arm_by_default(tmp_path, cache_dir):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=synth_det_ablation"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    assert params["ablation"].split(",") == list(EXPECTED) and params["seed"] == "0,1,2"
    alone = compose_run(["experiment=synth_det_ablation"], tmp_path, cache_dir)  # no arm: the paper's arm
    assert alone == _run("det_paper", tmp_path, cache_dir)


def test_cfg_job_prints_the_arms_reward_set(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "vrft", "--cfg", "job", "experiment=synth_det_ablation", "ablation=det_map"],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV | {"PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    printed = yaml.safe_load(res.stdout)
    assert set(printed["reward"]["functions"]) == {"map", "format"}


def test_a_mistyped_arm_is_refused():
    assert unknown_preset(["experiment=synth_det_ablation", "ablation=det_paper"]) is None
    msg = unknown_preset(["ablation=det_mapp"])
    assert msg.startswith("unknown ablation 'det_mapp'") and "det_map" in msg


def test_sweep_names_one_folder_per_arm_and_seed(tmp_path):
    """A real multirun (stub job, two arms and one seed of the preset's 21 runs)."""
    fields = {"rewards": "sorted(cfg.reward.functions)", "group": "cfg.logger.group"}
    overrides = ["--multirun", "experiment=synth_det_ablation", "ablation=det_paper,det_map", "seed=0"]
    dirs = stub_multirun(tmp_path, fields, overrides)
    assert {d: j["rewards"] for d, j in dirs.items()} == {
        "ablation=det_paper/seed=0": ["confidence", "format", "iou"],
        "ablation=det_map/seed=0": ["format", "map"],
    }
    assert {j["group"] for j in dirs.values()} == {"synth-det-ablation"}
