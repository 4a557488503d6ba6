"""Pin the CPU instruction set of torch's kernels, so that a CPU run gives the same bits on machines of a kind.

Machines of one kind can differ in CPU vendor (Intel, AMD) and generation (AVX2-only, AVX-512), and torch picks
its vectorised ATen kernels (`ATEN_CPU_CAPABILITY`), oneDNN its JIT kernels (`ONEDNN_MAX_CPU_ISA`) and MKL, which
computes torch's float32 matrix products, its code branch (`MKL_CBWR`) from the CPU it finds. Each choice rounds
differently, so the same seed and data train different weights, and a few hundred GRPO steps turn a last-bit
difference into a different run. `runtime.cpu_isa` sets them before torch is first imported:

- `avx2` (`conf/runtime/cpu.yaml`): all three to AVX2. MKL honours `MKL_CBWR=AVX2` on Intel CPUs only; on other
  vendors it runs its AUTO branch (Intel's oneMKL guide, "Getting Started with Conditional Numerical
  Reproducibility"), so AVX2-only and AVX-512 Intel machines agree with each other, AMD machines with each other,
  and an Intel and an AMD machine differ in every matrix product (`python -m vrft.runtime.fingerprint` shows it).
- `compatible`: ATen and oneDNN at AVX2 and MKL's COMPATIBLE branch, which Intel documents as the same on Intel
  and non-Intel CPUs; its matrix products are slower (SSE2 code).
- `native`: torch's own choice on each machine.

The variables reach child processes (the synthetic base build) through the environment.

Leaves out: GPU kernels (`trainer.deterministic`), the thread count (`runtime.num_threads`, which changes results
too), other architectures (on aarch64 there is nothing to pin: a warning says so and the run goes on natively)
and processes that imported torch before the entry point could pin it (then a warning says the pin was not
applied and the run goes on natively).
"""

from __future__ import annotations

import logging
import os
import platform
import sys

from vrft.errors import ConfigError

log = logging.getLogger(__name__)

ISAS = ("avx2", "compatible", "native")
_ENV = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
    "compatible": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "COMPATIBLE"},
}


def isa_env(isa: str) -> dict[str, str]:
    """The environment variables that pin `isa` (empty for `native`); an unknown name is a config error."""
    if isa not in ISAS:
        raise ConfigError(f"runtime.cpu_isa must be one of {', '.join(ISAS)}, got {isa!r}")
    return dict(_ENV.get(isa, {}))


def pin_cpu_isa(isa: str) -> bool:
    """Set `isa`'s variables if torch is not imported yet; True when the kernels in use will be `isa`'s."""
    env = isa_env(isa)
    if not env:
        return True
    if platform.machine().lower() not in ("x86_64", "amd64"):
        log.warning("runtime.cpu_isa=%s not applied: this CPU is %s, not x86-64", isa, platform.machine())
        return False
    if "torch" not in sys.modules:
        os.environ.update(env)
        return True
    applied = cpu_capability().lower() == env["ATEN_CPU_CAPABILITY"] and all(
        os.environ.get(k) == v for k, v in env.items()
    )
    if not applied:
        log.warning(
            "runtime.cpu_isa=%s not applied: torch was imported before the entry point (kernels: %s); results "
            "may differ in the last bits from `python -m vrft` on another machine",
            isa,
            cpu_capability(),
        )
    return applied


def cpu_capability() -> str:
    """The vectorised kernel set torch's ATen dispatches to (`AVX2`, `AVX512`, `DEFAULT`, ...)."""
    import torch

    return torch.backends.cpu.get_cpu_capability()
