"""A newcomer's first hour: a typo in a preset, Ctrl-C and SIGTERM, a real task without a real model, a model
missing from the cache, a real-size model on CPU, and a reward given by import path. Each case runs the real
entry point (`python -m vrft`) or the function it calls."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.test_resume import vrft_env


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
