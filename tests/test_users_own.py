"""A user's own reward by import path (`+reward.functions.mine.fn=pkg.module.fn +reward.functions.mine.weight=1.0`)
and own task through Hydra's `--config-dir`, as README shows them.

The reward function has TRL's signature and gets the dataset columns as keywords; it is scored and logged as
`train/reward/mine` like the built-ins; every way the path can be wrong is one config error naming the key, from
the real entry point too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid

import pytest

from tests.conftest import ROOT, TEST_CACHE, compose_run
from tests.test_resume import FAST, run_inprocess, vrft_env

MODULE = """
def mine(completions, solution, **kwargs):
    # 0.25 + 0.5 when the dataset columns arrive as TRL passes them (solution, kind, progress)
    seen = isinstance(solution, list) and {"kind", "progress"} <= set(kwargs)
    return [0.25 + 0.5 * seen + kwargs.get("bonus", 0.0) for _ in completions]

def positional_only(completions, solution):
    return [0.0 for _ in completions]

NOT_A_FUNCTION = 3
"""


@pytest.fixture
def user_pkg(tmp_path, monkeypatch) -> str:
    """A package of the user's on sys.path, under a name no other test imports; returns the package name."""
    name = f"userrewards_{uuid.uuid4().hex[:8]}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / name / "rewards.py").write_text(textwrap.dedent(MODULE))
    (tmp_path / name / "broken.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def user_reward(name: str, fn: str, weight: float = 1.0) -> list[str]:
    return [f"+reward.functions.{name}.fn={fn}", f"+reward.functions.{name}.weight={weight}"]


def test_a_users_reward_is_scored_and_logged_like_the_builtins(user_pkg, tmp_path):
    overrides = [*FAST, "trainer.max_steps=2", *user_reward("mine", f"{user_pkg}.rewards.mine", 2.0)]
    run_inprocess([*overrides, "+reward.functions.mine.kwargs.bonus=0.125"], tmp_path / "run")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = [r["train/reward/mine"] for r in rows if "train/reward/mine" in r]
    assert logged and all(v == pytest.approx(0.875) for v in logged), logged
    assert all("train/reward/iou" in r for r in rows if "train/reward/mine" in r)  # the built-ins still score


def test_the_users_reward_joins_the_runs_reward_set_with_its_weight(user_pkg):
    from vrft.assemble import build_rewards
    from vrft.rewards import REWARD_SETS
    from vrft.rewards.combine import score

    cfg = compose_run(
        ["experiment=smoke", *user_reward("mine", f"{user_pkg}.rewards:mine", 2.0)], ROOT, TEST_CACHE
    )
    rewards = build_rewards(cfg)
    assert [s.name for s in rewards.specs][-1] == "mine" and rewards.weights[-1] == 2.0
    assert (
        "mine" not in REWARD_SETS["hardened"]
    )  # the run's set is a copy; the package's sets stay as they are
    mine = [s for s in rewards.specs if s.name == "mine"]
    names, matrix = score(
        ["a", "b"], [None, None], mine, rewards.registry, kind=["det"] * 2, progress=[0.0] * 2
    )
    assert names == ["mine"] and matrix == [[0.75], [0.75]]


@pytest.mark.parametrize(
    ("fn", "says"),
    [
        ("{pkg}.nowhere.mine", "cannot import {pkg}.nowhere (ModuleNotFoundError"),
        (
            "{pkg}.broken.mine",
            "cannot import {pkg}.broken (ModuleNotFoundError: No module named 'no_such_dependency_xyz')",
        ),
        ("{pkg}.rewards.absent", "{pkg}.rewards has no attribute 'absent'"),
        ("{pkg}.rewards.NOT_A_FUNCTION", "is a int, not a reward function"),
        ("{pkg}.rewards.positional_only", "a reward must be fn(completions, **kwargs)"),
        ("justaname", "not an import path"),
    ],
)
def test_a_bad_import_path_is_one_config_error_naming_the_key(user_pkg, fn, says):
    from vrft.errors import ConfigError

    path = fn.format(pkg=user_pkg)
    with pytest.raises(ConfigError) as err:
        compose_run(["experiment=smoke", *user_reward("mine", path)], ROOT, TEST_CACHE)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"reward.functions.mine.fn={path}: "), msg
    assert says.format(pkg=user_pkg) in msg, msg


def test_a_builtin_name_or_an_unknown_one_without_fn_is_refused(user_pkg):
    from vrft.errors import ConfigError

    with pytest.raises(ConfigError, match="iou is a built-in reward; give your own another name"):
        compose_run(
            ["experiment=smoke", f"+reward.functions.iou.fn={user_pkg}.rewards.mine"], ROOT, TEST_CACHE
        )
    with pytest.raises(ConfigError, match=r"or a reward of your own with reward.functions.myreward.fn="):
        compose_run(["experiment=smoke", "+reward.functions.myreward.weight=1"], ROOT, TEST_CACHE)


def test_the_entry_point_reports_a_bad_path_in_one_line(user_pkg, tmp_path):
    cmd = [sys.executable, "-m", "vrft", "experiment=smoke", f"hydra.run.dir={tmp_path / 'run'}"]
    env = vrft_env(PYTHONPATH=str(tmp_path))
    bad = subprocess.run(
        [*cmd, *user_reward("mine", f"{user_pkg}.rewards.absent")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2, bad.stderr[-2000:]
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "reward.functions.mine.fn=" in lines[0] and "'absent'" in lines[0], lines


def test_a_users_own_task_through_config_dir(tmp_path):
    """README's example: a copy of conf/task/coco_fewshot.yaml with the user's name and categories, in a folder laid
    out like conf/, selected with `--config-dir`; its reward group comes along."""
    (tmp_path / "task").mkdir()
    text = (ROOT / "conf" / "task" / "coco_fewshot.yaml").read_text()
    text = text.replace("name: coco_fewshot", "name: my_coco").replace(
        "categories: [bus,", "categories: [kayak,"
    )
    (tmp_path / "task" / "my_coco.yaml").write_text(text)
    cmd = [sys.executable, "-m", "vrft", "--config-dir", str(tmp_path), "--cfg", "job", "task=my_coco"]
    proc = subprocess.run(
        [*cmd, "model=qwen2_vl_2b"], cwd=ROOT, env=vrft_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "name: my_coco" in proc.stdout and "- kayak" in proc.stdout and "    iou:" in proc.stdout
