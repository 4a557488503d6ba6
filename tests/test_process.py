"""Process settings of CPU training. vrft.runtime.heap: with `keep_heap()` a process reuses the pages it freed instead of
faulting in fresh ones on every round of allocations (what each training step does); without it glibc hands them
back to the kernel (fresh processes, no torch: bytearray goes through the same malloc; glibc only). vrft.runtime.omp:
`spin_omp` sets libgomp's wait policy before torch loads, leaves a user's own value, and says when it came too
late."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc malloc only"
)

ROUNDS = """
import resource, sys
from vrft.runtime.heap import keep_heap
applied = keep_heap(sys.argv[1] == "keep")
def round_():
    blocks = [bytearray(4 << 20) for _ in range(40)]  # 160 MiB in 4 MiB blocks, zero-filled (touched)
    del blocks
faults = []
for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    round_()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(applied, *faults)
"""


def rounds(mode: str) -> tuple[bool, list[int]]:
    out = subprocess.run([sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True, check=True)
    applied, *faults = out.stdout.split()
    return applied == "True", [int(f) for f in faults]


@glibc
def test_kept_heap_reuses_freed_pages():
    applied, kept = rounds("keep")
    _, default = rounds("default")
    assert applied
    pages = 160 * 2**20 // 4096
    assert kept[0] > pages // 2, "the first round touches fresh memory"
    assert max(kept[1:]) < pages // 20, f"later rounds should reuse the freed pages: {kept}"
    assert min(default[1:]) > pages // 2, f"glibc's defaults return freed memory to the kernel: {default}"


SPIN = """
import os, sys
if sys.argv[1] == "late":
    import torch
from vrft.runtime.omp import spin_omp
print(spin_omp(True), os.environ.get("OMP_WAIT_POLICY"))
"""


@pytest.mark.parametrize(
    ("when", "env", "expected"),
    [
        ("early", {}, "True ACTIVE"),  # before torch: set
        ("early", {"OMP_WAIT_POLICY": "PASSIVE"}, "False PASSIVE"),  # the user's own value wins
        ("late", {}, "False None"),  # torch already loaded libgomp: not set, and a warning says so
    ],
)
def test_spin_omp_sets_the_policy_before_torch_loads(when, env, expected):
    import os

    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run(
        [sys.executable, "-c", SPIN, when], capture_output=True, text=True, check=True, env={**base, **env}
    )
    assert out.stdout.strip() == expected
    assert ("runtime.omp_spin not applied" in out.stderr) == (when == "late")
