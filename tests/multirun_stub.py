"""A real Hydra multirun of vrft's config tree with a stub job instead of training: each job prints its output
folder and the config values asked for, so sweep tests check folder names and composed values in seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from vrft.paths import ROOT

ENV = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")} | {"WANDB_MODE": "offline"}

STUB = """
import json, hydra
from hydra.core.hydra_config import HydraConfig
from vrft.paths import CONF_DIR

@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg):
    out = HydraConfig.get().runtime.output_dir
    print("JOB", json.dumps({"dir": out, FIELDS}))

main()
"""


def stub_multirun(tmp_path: Path, fields: dict[str, str], overrides: list[str]) -> dict[str, dict]:
    """Run the stub over `overrides`; {job folder relative to the sweep folder: {field: value}}. `fields` maps a
    name to a Python expression of `cfg`, e.g. {"seed": "cfg.seed"}."""
    stub = tmp_path / "stub.py"
    stub.write_text(STUB.replace("FIELDS", ", ".join(f"{json.dumps(k)}: {v}" for k, v in fields.items())))
    sweep_dir = tmp_path / "sweep"
    cmd = [sys.executable, str(stub), *overrides, f"hydra.sweep.dir={sweep_dir}"]
    cmd += ["hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]
    env = ENV | {"PYTHONPATH": str(ROOT)}  # this checkout's vrft, whatever the environment installed
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    jobs = [json.loads(line[4:]) for line in res.stdout.splitlines() if line.startswith("JOB ")]
    return {Path(j.pop("dir")).relative_to(sweep_dir).as_posix(): j for j in jobs}
