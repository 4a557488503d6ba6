"""The synthetic base model: recipe hashing, the caller's world passed on, the gate, build once and reuse."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import compose_run
from vrft.errors import ModelError
from vrft.synthetic.base import base_model_path, compose_recipe, recipe, recipe_hash, world_overrides
from vrft.synthetic.gate import check_gate, gate_score


def test_world_overrides_give_the_base_the_callers_world():
    block = {
        "kind": "detection",
        "seed": 3,
        "novel": ["red triangle", "blue square"],
        "grid": 4,
        "categories": "novel",
        "gate": 0.9,
        "splits": {"base_train": 5},
        "lighting": "flat",
    }
    run = compose_recipe("synth_base", world_overrides(block))
    world = run.task.synthetic
    assert (
        world["seed"] == 3
        and world["novel"] == ["red triangle", "blue square"]
        and world["lighting"] == "flat"
    )
    assert world["categories"] == "base" and world["gate"] == 0.5  # task keys stay the base task's
    assert "splits" not in world  # split sizes stay the base experiment's (defaults)


@pytest.mark.parametrize(
    "override, changes",
    [
        ("task.synthetic.seed=1", True),
        ("algo.lr=0.002", True),
        ("trainer.max_steps=7", True),
        ("model.tiny.hidden_size=128", True),
        ("runtime.cpu_isa=native", True),
        ("prompt.think=after", True),  # SFT targets with the thought after the answer
        ("prompt.think=on", False),  # the default: built bases keep their hash
        ("logger=none", False),
        ("runtime.num_threads=1", False),
        ("eval.batch_size=4", False),
        ("paths.cache_dir=/elsewhere", False),
    ],
)
def test_recipe_hash_follows_what_sets_the_weights(override, changes):
    ref = recipe_hash(recipe(compose_recipe("synth_base", [])))
    assert (recipe_hash(recipe(compose_recipe("synth_base", [override]))) != ref) is changes


def write_predictions(path, pairs):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps([{"problem": "", "solution": s, "completion": c, "meta": {}} for c, s in pairs])
    )


def test_gate_scores_detection_by_mean_iou(tmp_path):
    sol = "<answer>[{'Position': [0, 0, 500, 500], 'Confidence': 1}]</answer>"
    half = "<think></think><answer>[{'Position': [0, 0, 500, 250], 'Confidence': 1}]</answer>"
    exact = "<think></think>" + sol
    preds = tmp_path / "eval" / "predictions_final.json"
    write_predictions(preds, [(exact, sol), (half, sol), ("nonsense", sol)])
    assert gate_score(preds, "detection") == pytest.approx((1.0 + 0.0 + 0.0) / 3)  # IoU 0.5 is not > 0.5
    assert check_gate(preds, "detection", 0.3)["passed"] and not check_gate(preds, "detection", 0.5)["passed"]


def test_gate_scores_grounding_and_classification(tmp_path):
    preds = tmp_path / "g.json"
    write_predictions(preds, [("<answer>(0,0),(500,500)</answer>", "<answer>(0,0),(500,1000)</answer>")])
    assert gate_score(preds, "grounding") == pytest.approx(0.5)
    write_predictions(
        preds,
        [
            ("<answer>blue circle</answer>", "<answer>blue circle</answer>"),
            ("<answer>blue</answer>", "<answer>blue circle</answer>"),
        ],
    )
    assert gate_score(preds, "classification") == pytest.approx(0.5)


@pytest.mark.slow
def test_base_is_built_once_through_the_entry_point_and_reused(tmp_path, monkeypatch):
    cfg = compose_run(
        ["experiment=smoke", "model=synth_det_base", "model.path=synthetic:synth_base_smoke", "logger=none"],
        tmp_path / "run",
        tmp_path / "cache",
    )
    path = base_model_path(cfg)
    folder = path.parent
    assert (path / "config.json").is_file() and folder.parent.name == "bases"
    assert json.loads((folder / "gate.json").read_text())["passed"]
    build = json.loads((folder / "build.json").read_text())
    assert "experiment=synth_base_smoke" in build["command"] and build["seconds"] > 0
    assert (folder / "summary.json").is_file()  # a normal run folder of the entry point

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cached base model was rebuilt")

    monkeypatch.setattr(subprocess, "run", no_rebuild)
    assert base_model_path(cfg) == path
    other = dataclasses.replace(
        cfg, task=dataclasses.replace(cfg.task, synthetic={**cfg.task.synthetic, "seed": 9})
    )
    with pytest.raises(AssertionError, match="rebuilt"):  # a recipe change (the world) needs a new base
        base_model_path(other)


def test_a_failed_gate_raises_and_keeps_the_run(tmp_path, monkeypatch):
    cfg = compose_run(["logger=none"], tmp_path / "run", tmp_path / "cache")  # default: synthetic:synth_base

    def fake_run(cmd, check=False):
        run_dir = next(a.split("=", 1)[1] for a in cmd if a.startswith("hydra.run.dir="))
        write_predictions(
            Path(run_dir) / "eval" / "predictions_final.json", [("junk", "<answer>[]</answer>")]
        )
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    with pytest.raises(ModelError, match="failed its gate"):
        base_model_path(cfg)
    failed = list((tmp_path / "cache" / "bases").glob("*.failed"))
    assert len(failed) == 1 and not json.loads((failed[0] / "gate.json").read_text())["passed"]


def test_base_seed_builds_another_base_and_is_its_training_seed(tmp_path, monkeypatch):
    """`model.base_seed` is the seed of the base model's training run: part of its recipe (another cache folder)
    and passed to the base experiment; the default 0 is the base experiment's own seed."""
    commands = []

    def fake_run(cmd, check=False):
        commands.append(cmd)
        run_dir = Path(next(a.split("=", 1)[1] for a in cmd if a.startswith("hydra.run.dir=")))
        write_predictions(run_dir / "eval" / "predictions_final.json", [("<answer>x</answer>", "x")])
        (run_dir / "final_model").mkdir(parents=True)
        (run_dir / "final_model" / "config.json").write_text("{}")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    paths = {}
    for seed in (0, 3):
        cfg = compose_run(["logger=none", f"model.base_seed={seed}"], tmp_path / "run", tmp_path / "cache")
        paths[seed] = base_model_path(cfg)
    assert paths[0] != paths[3] and len(commands) == 2
    assert "seed=0" in commands[0] and "seed=3" in commands[1]
    recipes = [json.loads((p.parent / "recipe.json").read_text()) for p in (paths[0], paths[3])]
    assert (recipes[0]["seed"], recipes[1]["seed"]) == (0, 3)
