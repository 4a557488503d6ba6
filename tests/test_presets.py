"""Every preset in experiments/ and sweeps/, the launcher configs and every task x model x algo choice compose
with Hydra from another working directory and pass vrft's validation; sweeps name run folders without the seed."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import itertools
import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

import vrft  # noqa: F401  (registers ${vrft_root:})
from tests.multirun_stub import stub_multirun
from vrft.config import check, load_config
from vrft.errors import ConfigError
from vrft.paths import CONF_DIR, EXPERIMENTS_DIR, ROOT, SWEEPS_DIR

EXPERIMENTS = sorted(p.stem for p in EXPERIMENTS_DIR.glob("*.yaml"))
SWEEPS = sorted(p.stem for p in SWEEPS_DIR.glob("*.yaml"))
PAPER = [e for e in EXPERIMENTS if e.startswith("paper_")]
GROUPS = {g: sorted(p.stem for p in (CONF_DIR / g).glob("*.yaml")) for g in ("task", "model", "algo")}
ENV = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")} | {"WANDB_MODE": "offline"}


@pytest.fixture(autouse=True)
def elsewhere(tmp_path, monkeypatch):
    """Compose from an unrelated working directory: presets must be found by package-relative paths."""
    monkeypatch.chdir(tmp_path)


@functools.cache
def _composed(overrides: tuple[str, ...]):
    base = ["paths.output_dir=/tmp/vrft-presets", "paths.cache_dir=/tmp/vrft-presets/cache"]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=base + list(overrides), return_hydra_config=True)


def composed(overrides: list[str]):
    """The composed config (hydra node included) for these overrides; composed once per test module."""
    return _composed(tuple(overrides)).copy()


def test_presets_exist():
    assert {"shots", "seeds", "algos"} <= set(SWEEPS)
    expected = {
        "paper_cls_fewshot",
        "paper_coco_fewshot_2b",
        "paper_coco_fewshot_7b",
        "paper_lvis_fewshot",
        "paper_lisa",
        "paper_coco_ov",
        "paper_lvis_ov",
    }
    assert expected <= set(PAPER)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_validates(name):
    cfg = composed([f"experiment={name}"])
    assert cfg.hydra.runtime.choices.experiment == name
    run = load_config(cfg)  # the hydra node is dropped by load_config
    assert run.task.name and run.model.name and run.algo.name


@pytest.mark.parametrize("name", SWEEPS)
def test_sweep_composes_and_validates(name):
    cfg = composed([f"sweep={name}"])
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.sweeper.params, f"sweeps/{name}.yaml sets no hydra.sweeper.params"
    run = load_config(cfg)
    assert run.logger.group and name.split("_")[0] in run.logger.group


@pytest.mark.parametrize("name", PAPER)
def test_paper_preset_header_and_settings(name):
    text = (EXPERIMENTS_DIR / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_\n")
    assert "Table" in text and f"python -m vrft --multirun experiment={name}" in text
    run = load_config(composed([f"experiment={name}"]))
    assert run.model.name.startswith("qwen2_vl_") and run.algo.name == "grpo"
    assert run.algo.num_generations == (4 if name.endswith("_7b") else 8)
    assert run.algo.beta == 0.04 and run.trainer.max_steps in (200, 750)
    assert run.logger.group.startswith("paper-table")


def test_sweeps_combine_with_an_experiment():
    cfg = composed(["experiment=paper_coco_fewshot_2b", "sweep=seeds"])
    params = cfg.hydra.sweeper.params
    assert params["seed"] == "0,1,2" and params["task.shots"] == "1,2,4,8,16"
    assert load_config(cfg).task.name == "coco_fewshot"


def test_shots_sweep_values():
    params = composed(["sweep=shots"]).hydra.sweeper.params
    assert params == {"task.shots": "1,2,4,8,16", "algo": "grpo,sft"}
    assert composed(["sweep=algos"]).hydra.sweeper.params == {"algo": "grpo,dr_grpo,dapo"}


def test_joblib_launcher_composes():
    cfg = composed(["hydra/launcher=parallel"])
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher") and cfg.hydra.launcher.n_jobs >= 1


def test_slurm_launcher_composes_when_installed():
    if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:
        pytest.skip("hydra-submitit-launcher is not installed (pip install hydra-submitit-launcher)")
    cfg = composed(["hydra/launcher=slurm"])
    assert "submitit" in cfg.hydra.launcher._target_ and cfg.hydra.launcher.gpus_per_node == 8


def test_every_task_model_algo_choice_validates():
    """Each choice composes on its own (a real task with a tiny model: with the synthetic default model it is
    refused); the 280 combinations of their nodes all pass `check` but a real task with a synthetic world's base
    model, and composing a diagonal sample directly gives the same nodes (the groups do not interact at
    composition)."""

    def alone(g: str, c: str) -> list[str]:
        return [f"{g}={c}", *(["model=tiny_qwen2_vl"] if g == "task" and not c.startswith("synth_") else [])]

    runs = {(g, c): load_config(composed(alone(g, c))) for g, cs in GROUPS.items() for c in cs}
    base = runs[("task", GROUPS["task"][0])]
    combos = list(itertools.product(GROUPS["task"], GROUPS["model"], GROUPS["algo"]))
    for t, m, a in combos:
        run = dataclasses.replace(
            base,
            task=runs["task", t].task,
            reward=runs["task", t].reward,
            model=runs["model", m].model,
            algo=runs["algo", a].algo,
        )
        if refused(run):
            with pytest.raises(ConfigError, match="synthetic world's base model"):
                check(run)
        else:
            check(run)
    assert len(combos) == len(GROUPS["task"]) * len(GROUPS["model"]) * len(GROUPS["algo"]) >= 9 * 6 * 4
    for i, a in enumerate(GROUPS["algo"]):  # a sample: every algo, with different tasks and models
        t, m = GROUPS["task"][(3 * i) % len(GROUPS["task"])], GROUPS["model"][(2 * i) % len(GROUPS["model"])]
        if refused(dataclasses.replace(runs["task", t], model=runs["model", m].model)):
            with pytest.raises(ConfigError, match=f"task={t} .* model={m}"):
                load_config(composed([f"task={t}", f"model={m}", f"algo={a}"]))
            continue
        run = load_config(composed([f"task={t}", f"model={m}", f"algo={a}"]))
        assert (run.task, run.reward) == (runs["task", t].task, runs["task", t].reward)
        assert run.model == runs["model", m].model and run.algo == runs["algo", a].algo


def refused(run) -> bool:
    """A real task with a synthetic world's base model (vrft.config.check_task_model)."""
    return run.task.synthetic is None and (run.model.path or "").startswith("synthetic:")


def test_sweep_run_folders_leave_the_seed_out_of_the_name(tmp_path):
    """A real multirun (stub job, local launcher): one folder per job, seed below the override name."""
    fields = {"seed": "cfg.seed", "algo": "cfg.algo.name", "group": "cfg.logger.group"}
    dirs = stub_multirun(tmp_path, fields, ["sweep=seeds", "seed=0,1", "algo=grpo,sft"])
    assert set(dirs) == {f"algo={a}/seed={s}" for a in ("grpo", "sft") for s in (0, 1)}
    assert all(d.endswith(f"seed={j['seed']}") and f"algo={j['algo']}" in d for d, j in dirs.items())
    assert {j["group"] for j in dirs.values()} == {
        "synth_cls_fewshot-synth_cls_base-seeds"
    }  # one sweep, one group
    assert OmegaConf.load(tmp_path / "sweep/algo=sft/seed=1/.hydra/config.yaml").seed == 1


def test_cli_help_lists_the_groups(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "vrft", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV | {"PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    for group in (
        "task",
        "model",
        "algo",
        "reward",
        "rollout",
        "trainer",
        "runtime",
        "logger",
        "experiment",
        "sweep",
    ):
        assert f"{group}:" in res.stdout, f"group {group!r} missing from --help"
    for name in ("coco_fewshot", "qwen2_vl_2b", "dr_grpo", "paper_lisa", "shots"):
        assert name in res.stdout


def test_detection_study_cells_are_the_few_shot_detection_runs():
    """The study's GRPO 4-shot cells are few-shot detection runs in the world its figures were measured in
    (placeholder thoughts, a 48-token cap): the same run but for the W&B group."""
    study = load_config(composed(["experiment=synth_study_det", "task.shots=4", "algo=synth_grpo", "seed=1"]))
    then = ["task.synthetic.thought=none", "rollout.sampling.max_new_tokens=48"]
    single = load_config(composed(["experiment=synth_det_fewshot", "seed=1", *then]))
    assert study.logger.group == "synth-study-det"
    assert dataclasses.replace(study, logger=single.logger) == single
    assert single.task.train_query == "all" and single.task.train_negatives == 0.5
    assert single.model.family == "qwen3_vl" and single.model.path == "synthetic:synth_base"
    params = composed(["experiment=synth_study_det"]).hydra.sweeper.params
    assert params == {"task.shots": "4,16", "algo": "synth_grpo,synth_sft", "seed": "0,1,2"}
