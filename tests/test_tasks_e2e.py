"""Every task config runs end to end on each tiny model family (Qwen2-VL, Qwen3-VL, Qwen3.5): the real tasks on a
stand-in dataset written in that task's real on-disk format, the synthetic ones on the built-in world; train one GRPO
step, evaluate, write summary.json and the task's metric. And `python -m vrft experiment=smoke model=tiny_qwen3_vl`
(and `model=tiny_qwen3_5`, with GRPO and with `algo=sft`) runs as a command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import compose_run

COCO80_SAMPLE = None  # filled lazily from the task configs


def _task_categories(name: str) -> tuple[list[str], list[str] | None]:
    import yaml

    from vrft.paths import CONF_DIR

    data = yaml.safe_load((CONF_DIR / "task" / f"{name}.yaml").read_text())
    return data["categories"], data["eval_categories"]


def _write(task: str, root: Path) -> list[str]:
    """Write the stand-in for `task` under root; return the overrides pointing the task at it."""
    from vrft.data import standins

    if task in ("coco_fewshot", "coco_ov"):
        cats, evals = _task_categories(task)
        names = list(dict.fromkeys(cats + (evals or [])))
        train, train_img = standins.write_coco(root / "coco", 12, names, seed=1, split="train2017")
        val, val_img = standins.write_coco(root / "coco", 6, names, seed=2, split="val2017")
        shots = ["task.shots=1"] if task == "coco_fewshot" else []
        return [
            f"task.train.path={train}",
            f"task.train.images={train_img}",
            f"task.test.path={val}",
            f"task.test.images={val_img}",
            *shots,
        ]
    if task in ("lvis_fewshot", "lvis_ov"):
        cats, evals = _task_categories(task)
        test_ann, test_img = standins.write_lvis(root / "lvis", 6, evals or cats, seed=2, split="val")
        if task == "lvis_fewshot":
            train_ann, train_img = standins.write_lvis(root / "lvis", 12, cats, seed=1, split="train")
            extra = ["task.shots=1"]
        else:
            train_ann, train_img = standins.write_coco(root / "coco", 12, cats, seed=1, split="train2017")
            extra = []
        return [
            f"task.train.path={train_ann}",
            f"task.train.images={train_img}",
            f"task.test.path={test_ann}",
            f"task.test.images={test_img}",
            *extra,
        ]
    if task == "fgvc_aircraft_fewshot":
        ds = standins.write_fgvc_aircraft(root / "fgvc", ["707-320", "A320", "ATR-42"], 2, seed=1)
        return [
            f"task.train.path={ds}",
            f"task.test.path={ds}",
            "task.train.images=null",
            "task.test.images=null",
            "task.shots=1",
        ]
    if task.endswith("_fewshot"):  # CoOp-split classification
        name = {"flowers102": "OxfordFlowers", "pets37": "OxfordPets", "cars196": "StanfordCars"}[
            task.split("_")[0]
        ]
        ds = standins.write_coop_split(root / name, ["class_a", "class_b", "class_c"], 2, seed=1, name=name)
        split = next(Path(ds).glob("split_zhou_*.json"))
        return [
            f"task.train.path={split}",
            f"task.test.path={split}",
            "task.train.images=null",
            "task.test.images=null",
            "task.shots=1",
        ]
    if task == "lisa_grounding":
        train = standins.write_reasonseg(root / "rs" / "train", 4, seed=1)
        val = standins.write_reasonseg(root / "rs" / "val", 3, seed=2)
        return [f"task.train.path={train}", f"task.test.path={val}"]
    raise AssertionError(task)


TASKS = [
    "flowers102_fewshot",
    "pets37_fewshot",
    "fgvc_aircraft_fewshot",
    "cars196_fewshot",
    "coco_fewshot",
    "lvis_fewshot",
    "lisa_grounding",
    "coco_ov",
    "lvis_ov",
]


# The built-in synthetic world's tasks (every conf/task/synth_*.yaml; data generated, no stand-in needed).
SYNTH_TASKS = sorted(p.stem for p in (Path(__file__).parents[1] / "conf" / "task").glob("synth_*.yaml"))
MODELS = ["tiny_qwen2_vl", "tiny_qwen3_vl", "tiny_qwen3_5"]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("task", TASKS)
def test_task_runs_on_its_standin(task, model, tmp_path, cache_dir):
    _train_one_step(task, model, _write(task, tmp_path / "data"), tmp_path, cache_dir)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("task", SYNTH_TASKS)
def test_synthetic_task_trains_a_step(task, model, tmp_path, cache_dir):
    _train_one_step(task, model, [], tmp_path, cache_dir)


def _train_one_step(task: str, model: str, overrides: list[str], tmp_path: Path, cache_dir: Path) -> None:
    from vrft.run import run

    cfg = compose_run(
        [
            f"task={task}",
            f"model={model}",
            "logger=none",
            "trainer.max_steps=1",
            "algo.num_generations=2",
            "algo.prompts_per_step=2",
            "algo.prompts_per_batch=2",
            "rollout.sampling.max_new_tokens=8",
            "eval.max_samples=4",
            "eval.batch_size=4",
            "save_final_model=false",
            *overrides,
        ],
        tmp_path / "run",
        cache_dir,
    )
    assert cfg.model.name == model and cfg.task.name == task
    summary = run(cfg)
    assert summary["status"] == "ok" and summary["steps"] == 1 and summary["model"] == model
    metric = cfg.task.metric
    written = json.loads((tmp_path / "run" / "eval" / "metrics_final.json").read_text())
    assert metric in written
    assert summary["final"] == pytest.approx(written[metric], nan_ok=True)
    assert (tmp_path / "run" / "eval" / "predictions_final.json").exists()


SMOKE = [
    ("tiny_qwen3_vl", "grpo", "Qwen3VLForConditionalGeneration"),
    ("tiny_qwen3_5", "grpo", "Qwen3_5ForConditionalGeneration"),
    ("tiny_qwen3_5", "sft", "Qwen3_5ForConditionalGeneration"),
]


@pytest.mark.parametrize(("model", "algo", "arch"), SMOKE)
def test_smoke_command_runs(model, algo, arch, tmp_path, cache_dir):
    """`python -m vrft experiment=smoke model=... [algo=sft]`: 4 steps, metrics logged, the family's model saved."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HOME": str(tmp_path / "home"), "WANDB_MODE": "offline"}
    run_dir = tmp_path / "run"
    command = [
        "experiment=smoke",
        f"model={model}",
        *([f"algo={algo}"] if algo != "grpo" else []),
        f"hydra.run.dir={run_dir}",
        f"paths.cache_dir={cache_dir}",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "vrft", *command], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["steps"] == 4 and summary["model"] == model
    assert summary["algo"] == algo
    steps = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    key = "train/completion_len" if algo == "grpo" else "train/loss"
    train = [m for m in steps if key in m]
    assert len(train) == 4 and all(m[key] > 0 for m in train)
    config = json.loads((run_dir / "final_model" / "config.json").read_text())
    family = model.removeprefix("tiny_")
    assert config["model_type"] == family and config["architectures"] == [arch]
    processor = json.loads((run_dir / "final_model" / "processor_config.json").read_text())
    assert processor["processor_class"] == "Qwen3VLProcessor"


def test_summary_gives_novel_and_base_classes_apart():
    """A synthetic world's novel classes and the others are averaged apart (forgetting shows); a task without
    novel classes, or an evaluation that met only one group, adds nothing."""
    from vrft.config import TaskCfg
    from vrft.run import group_means

    task = TaskCfg(name="t", synthetic={"novel": ["red triangle"]})
    per_class = {"red triangle": 50.0, "red circle": 100.0, "blue circle": 80.0}
    assert group_means(per_class, task, "final") == {"novel_final": 50.0, "base_final": 90.0}
    assert group_means({"red circle": 100.0}, task, "final") == {}
    assert group_means(per_class, TaskCfg(name="real"), "initial") == {}
