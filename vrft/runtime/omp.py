"""OpenMP worker threads that keep spinning between parallel regions (`OMP_WAIT_POLICY=ACTIVE`) in CPU training.

torch's CPU kernels run on libgomp's thread pool. Between two parallel regions its workers spin briefly and then
sleep, and a GRPO step is thousands of short regions (each decode step is a few dozen small matmuls and
elementwise ops), so the calling thread often waits at the start and end of a region for a worker to wake up.
`ACTIVE` keeps the workers spinning (`python -m vrft.bench --no-omp-spin` gives the other side; docs/speed.md has
the measured effect, and that of `OMP_WAIT_POLICY=PASSIVE`, which sleeps at once). Results do not change (the same
work split, the same sums).

The cost is that the workers hold their cores while the main thread runs Python between ops: right when the run
has the CPU to itself (the CPU trainer's premise: one job per machine, `runtime.num_threads` = its cores), wrong
beside data-loader workers or other jobs, and useless on a GPU. `runtime.omp_spin` is off by default
(conf/runtime/cpu.yaml, where the measurement is cited) and remains an option for a machine the run has to itself. libgomp reads the variable when torch loads it, so the
entry points set it before torch is imported (as vrft.runtime.cpu_isa); a value the user exported wins. Left out: other
OpenMP runtimes' variables (Intel's KMP_BLOCKTIME: torch's pip wheels ship libgomp).
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)


def spin_omp(enabled: bool) -> bool:
    """Ask libgomp's workers to spin between parallel regions; True when the policy in force is ACTIVE."""
    if not enabled:
        return False
    if "torch" in sys.modules and "OMP_WAIT_POLICY" not in os.environ:
        log.warning("runtime.omp_spin not applied: torch was imported before the entry point could set it")
        return False
    os.environ.setdefault("OMP_WAIT_POLICY", "ACTIVE")
    return os.environ["OMP_WAIT_POLICY"].upper() == "ACTIVE"
