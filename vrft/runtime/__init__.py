"""Process settings of a run (`runtime` config group) and the start-up checks of the machine and the run folder.

`before_torch(runtime)` pins the CPU kernels (`cpu_isa`) and sets OpenMP's wait policy (`omp`), which only take
effect before torch is first imported, so the entry points call it first; `after_torch(runtime)` sets torch's
thread count and glibc's heap (`heap`) and returns what took effect, for `summary.json`. `backends` checks that the
machine has what the config names (a GPU, DeepSpeed, vLLM); `run_folder` is the Hydra callback that refuses an
unwritable output folder. Kept free of heavy imports: Hydra loads `run_folder` before anything else. Left out:
anything that changes what a run computes (these settings change speed and, for threads and kernels, last bits).
"""

from __future__ import annotations

import os


def before_torch(runtime) -> None:
    """The settings torch reads when it loads: the CPU kernel pin and OpenMP's wait policy."""
    from vrft.runtime.cpu_isa import pin_cpu_isa
    from vrft.runtime.omp import spin_omp

    pin_cpu_isa(runtime.cpu_isa)
    spin_omp(runtime.omp_spin)


def after_torch(runtime) -> dict:
    """torch's thread count and glibc's kept heap; returns what took effect (`keep_heap`, `omp_wait_policy`)."""
    import torch

    from vrft.runtime.heap import keep_heap

    if runtime.num_threads:
        torch.set_num_threads(runtime.num_threads)
    kept = keep_heap(runtime.keep_heap)
    return {"keep_heap": kept, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
