"""Reproducible CPU results: the default run's base recipe, built in separate processes, gives bit-identical weights,
and `runtime.cpu_isa=avx2` gives the bits of an AVX2-only machine on any x86-64 CPU.

Each build is `python -m vrft experiment=synth_base_cls` shortened (a few SFT steps, a few held-out queries) in its
own process and its own cache, so the world, the tokenizer and the tiny model are built anew each time. An AVX2-only
machine is stood in for by forcing torch's kernels to AVX2 from the environment with the pin off; on a CPU with
AVX-512 the native build must then differ, which shows the comparison can fail.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_resume import vrft_env
from vrft.errors import ConfigError
from vrft.runtime.cpu_isa import cpu_capability, isa_env, pin_cpu_isa

SHORT_BASE = [
    "experiment=synth_base_cls",
    "trainer.max_steps=4",
    "eval.before=false",
    "eval.max_samples=4",
    "logger=none",
]


def build(tmp: Path, name: str, overrides: list[str], **env: str) -> tuple[str, dict]:
    run_dir = tmp / name
    cmd = [
        sys.executable,
        "-m",
        "vrft",
        *SHORT_BASE,
        *overrides,
        f"hydra.run.dir={run_dir}",
        f"paths.cache_dir={tmp / (name + '-cache')}",
    ]
    done = subprocess.run(cmd, env=vrft_env(**env), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    model = run_dir / "final_model"
    digest = hashlib.sha256()
    for f in ("model.safetensors", "tokenizer.json"):
        digest.update((model / f).read_bytes())
    return digest.hexdigest(), json.loads((run_dir / "summary.json").read_text())


@pytest.mark.slow
def test_base_builds_in_separate_processes_are_bit_identical_and_isa_pinned(tmp_path):
    a, sa = build(tmp_path, "a", [], PYTHONHASHSEED="1")
    b, sb = build(tmp_path, "b", [], PYTHONHASHSEED="2", ATEN_CPU_CAPABILITY="avx512")  # the pin wins
    assert sa["cpu_capability"] == sb["cpu_capability"] == "AVX2" and sa["num_threads"] == 2
    assert a == b
    avx2_machine = {**isa_env("avx2"), "PYTHONHASHSEED": "3"}
    c, sc = build(tmp_path, "c", ["runtime.cpu_isa=native"], **avx2_machine)
    assert sc["cpu_capability"] == "AVX2" and c == a
    d, sd = build(tmp_path, "d", ["runtime.cpu_isa=native"])
    if sd["cpu_capability"] != "AVX2":  # an AVX-512 CPU: its own kernels round differently
        assert d != a


def test_pin_sets_the_kernels_before_torch_is_imported():
    code = (
        "import sys; from vrft.runtime.cpu_isa import pin_cpu_isa, cpu_capability; "
        "assert 'torch' not in sys.modules; print(pin_cpu_isa('avx2'), cpu_capability())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=vrft_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", "AVX2"]


def test_pin_after_torch_is_reported_not_applied(caplog):
    import torch  # noqa: F401  (imported by this process long ago; the kernels are chosen already)

    assert pin_cpu_isa("native") is True
    if cpu_capability() != "AVX2":
        assert pin_cpu_isa("avx2") is False
        assert "runtime.cpu_isa=avx2 not applied" in caplog.text


def test_unknown_isa_is_a_config_error():
    with pytest.raises(ConfigError, match="runtime.cpu_isa must be one of avx2, compatible, native"):
        isa_env("avx512")


def fingerprint(tmp: Path, isa: str, seed: str) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "vrft.runtime.fingerprint",
        "--cpu-isa",
        isa,
        "--cache-dir",
        str(tmp / "cache"),
    ]
    done = subprocess.run(cmd, env=vrft_env(PYTHONHASHSEED=seed), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_fingerprint_repeats_on_one_machine_and_shows_mkls_branch(tmp_path):
    """The kernels' bits are the same in every process of one machine (the guarantee vrft makes); MKL's
    vendor-neutral branch (`compatible`) changes every matrix product and nothing elementwise, which the
    comparison names as the first difference."""
    from vrft.runtime.fingerprint import compare

    a, b = fingerprint(tmp_path, "avx2", "1"), fingerprint(tmp_path, "avx2", "2")
    assert a["probes"] == b["probes"] and a["env"]["MKL_CBWR"] == "AVX2"
    c = fingerprint(tmp_path, "compatible", "3")
    assert c["env"]["MKL_CBWR"] == "COMPATIBLE"
    _, first = compare(a, c)
    assert first == "mm_decode_16x256x768"
    assert all(a["probes"][k] == c["probes"][k] for k in ("softmax", "exp", "layer_norm", "adamw_fused"))


def test_compare_names_the_first_probe_that_differs():
    from vrft.runtime.fingerprint import compare

    a = {"probes": {"mm": "1", "softmax": "2", "model": "3"}}
    b = {"probes": {"mm": "1", "softmax": "x", "model": "y"}}
    lines, first = compare(a, b)
    assert first == "softmax" and lines[0].endswith("same") and lines[2].endswith("DIFFERENT")
    assert compare(a, a)[1] is None
