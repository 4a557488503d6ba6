"""A newcomer's first hour: a typo in a preset (and a user's own preset through `--config-dir`), Ctrl-C and
SIGTERM. Each case runs the real entry point (`python -m vrft`) or the function it calls."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_resume import SMOKE, vrft_cmd, vrft_env


def vrft(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vrft", *args],
        cwd=ROOT,
        env=vrft_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("arg", "named"),
    [
        ("experiment=smokee", ("experiment 'smokee'", "smoke,", "paper_lisa")),
        ("sweep=shotz", ("sweep 'shotz'", "shots,", "seeds")),
    ],
)
def test_a_preset_typo_is_one_line_and_exit_2(arg, named):
    proc = vrft("--cfg", "job", arg)
    assert proc.returncode == 2
    assert proc.stdout == ""  # the default config was not printed (nor run)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and all(word in lines[0] for word in named)


def test_preset_names_in_all_override_forms():
    from vrft.presets import unknown_preset

    assert unknown_preset(["experiment=smoke", "sweep=shots", "seed=1"]) is None
    assert unknown_preset(["+experiment=smoke", "experiment=null"]) is None
    assert "'nope'" in unknown_preset(["--multirun", "experiment=smoke,nope"])
    assert "'x'" in unknown_preset(["sweep=choice(shots,x)"])


def test_a_users_own_preset_through_config_dir_is_accepted(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text("# @package _global_\nseed: 7\n")
    proc = vrft("--config-dir", str(tmp_path), "--cfg", "job", "experiment=mine")
    assert proc.returncode == 0, proc.stderr
    assert "seed: 7" in proc.stdout
    typo = vrft("-cd", str(tmp_path), "--cfg", "job", "experiment=other")
    assert typo.returncode == 2 and "'other'" in typo.stderr and "mine" in typo.stderr


def trained_steps(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return 0
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return max((r["step"] for r in rows if any(k.startswith("train/") for k in r)), default=0)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_checkpoints_the_last_step_and_prints_the_resume_command(tmp_path, sig, code):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [*vrft_cmd(run_dir, [*SMOKE, "trainer.max_steps=400"])],
        cwd=ROOT,
        env=vrft_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    try:
        while trained_steps(run_dir) < 2:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "training did not start in time"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == code, err[-2000:]
    done = json.loads((run_dir / "summary.json").read_text())
    assert done["status"] == "interrupted" and 2 <= done["steps"] < 400
    latest = (run_dir / "checkpoints" / "latest").read_text().strip()
    assert latest == f"step-{done['steps']:08d}"  # the last completed step, although every_n_steps is 0
    assert f"resume=true hydra.run.dir={run_dir}" in err and "trainer.max_steps=400" in err
    assert done["resume_command"].endswith(f"resume=true hydra.run.dir={run_dir}")
