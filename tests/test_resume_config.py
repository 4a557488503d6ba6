"""Resuming with a changed config: refused, naming each result-changing key with both values, unless the key is
allowed with `resume_allow`; keys that cannot change the weights may differ; the first life's config is kept."""

from __future__ import annotations

import json

import pytest

from tests.test_resume import FAST, run_inprocess

RUN = [*FAST, "trainer.max_steps=2", "checkpoint.every_n_steps=2"]


def test_changed_keys_skip_free_and_allowed_keys():
    from vrft.checkpointing.run_config import changed_keys

    first = {
        "seed": 0,
        "algo": {"lr": 1e-5, "num_generations": 8},
        "paths": {"output_dir": "a"},
        "resume": False,
    }
    now = {
        "seed": 1,
        "algo": {"lr": 2e-5, "num_generations": 8},
        "paths": {"output_dir": "b"},
        "resume": True,
    }
    assert changed_keys(first, now) == ["algo.lr (1e-05 -> 2e-05)", "seed (0 -> 1)"]
    assert changed_keys(first, now, allow=["algo"]) == ["seed (0 -> 1)"]
    assert changed_keys(first, {**now, "seed": 0, "algo": first["algo"]}) == []
    # a run kept before prompt.think existed resumes with the default (its behaviour), not with another mode
    assert changed_keys({"seed": 0}, {"seed": 0, "prompt": {"think": "on"}}) == []
    assert changed_keys({"seed": 0}, {"seed": 0, "prompt": {"think": "off"}}) == [
        "prompt.think ('on' -> 'off')"
    ]
    assert changed_keys({"task": {"shots": 4}}, {"task": {}}) == [
        "task ('<absent>' -> {})",
        "task.shots (4 -> '<absent>')",
    ]
    # an option added since (reward.functions.<name>.fn), left at its null default, is no change
    added = {"reward": {"functions": {"iou": {"weight": 1.0, "fn": None}}}}
    assert changed_keys({"reward": {"functions": {"iou": {"weight": 1.0}}}}, added) == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("seed=1", "seed (0 -> 1)"),
        ("algo.lr=0.5", "algo.lr ("),
        ("algo.num_generations=3", "algo.num_generations (2 -> 3)"),
    ],
)
def test_resume_with_a_result_changing_key_is_refused(tmp_path, change, named):
    from vrft.errors import ConfigError

    run_inprocess(RUN, tmp_path)
    kept = (tmp_path / "run_config.json").read_text()
    with pytest.raises(ConfigError) as err:
        run_inprocess([*RUN, change, "resume=true"], tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and named in msg and "resume_allow=[" in msg
    assert (tmp_path / "run_config.json").read_text() == kept


def test_allowed_and_free_changes_resume_and_the_first_config_is_kept(tmp_path):
    hydra = tmp_path / ".hydra"
    hydra.mkdir()
    (hydra / "config.yaml").write_text("first life\n")  # as Hydra writes it at each start
    run_inprocess(RUN, tmp_path)
    assert json.loads((tmp_path / "run_config.json").read_text())["seed"] == 0
    (hydra / "config.yaml").write_text("second life\n")
    out = run_inprocess([*RUN, "seed=1", "resume_allow=[seed]", "checkpoint.keep=5", "resume=true"], tmp_path)
    assert out["status"] == "ok" and out["resumed_from"] == 2
    assert (hydra / "config.yaml").read_text() == "first life\n"
    assert (hydra / "resume-00000002" / "config.yaml").read_text() == "second life\n"
    assert json.loads((tmp_path / "run_config.json").read_text())["seed"] == 0
