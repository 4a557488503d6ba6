"""trl is an optional extra (`vrft[bench]`: the benchmark's TRL side and the parity tests): every vrft module imports,
and the entry point composes and validates a run, in a process where `import trl` fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BLOCK_TRL = "import sys; sys.modules['trl'] = None  # import trl raises ImportError, installed or not\n"

IMPORT_ALL = """
import importlib, pkgutil
import vrft
names = [m.name for m in pkgutil.walk_packages(vrft.__path__, "vrft.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
print(len(names), "modules")
"""

COMPOSE = """
from hydra import compose, initialize_config_dir
from vrft.config import load_config
from vrft.paths import CONF_DIR
with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
    cfg = load_config(compose("config", overrides=["paths.output_dir=unused"]))
import vrft.assemble, vrft.run
print(cfg.algo.name)
"""


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_block_works():
    done = run(BLOCK_TRL + "import trl")
    assert done.returncode != 0 and "import of trl halted" in done.stderr


def test_every_module_imports_without_trl():
    done = run(BLOCK_TRL + IMPORT_ALL)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[0]) > 50


def test_a_run_composes_and_validates_without_trl():
    done = run(BLOCK_TRL + COMPOSE)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("grpo")


def test_the_trl_side_of_the_benchmark_says_what_to_install():
    code = (
        BLOCK_TRL
        + "import importlib.util; importlib.util.find_spec = lambda n, *a: None if n == 'trl' else __import__('importlib.machinery').machinery.PathFinder.find_spec(n)\n"
    )
    code += "from vrft.bench.__main__ import parse\nparse(['--sides', 'vrft,trl'])\n"
    done = run(code)
    assert done.returncode == 2 and "pip install 'vrft[bench]'" in done.stderr, done.stderr[-2000:]
