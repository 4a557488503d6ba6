"""Keep freed heap memory in the process for reuse (glibc malloc), so a training step does not page-fault its
tensors in afresh every time.

A GRPO step allocates and frees the same few hundred MiB each time (activations kept for the backward, logits,
caches). glibc's malloc hands memory above 128 KiB at the top of the heap back to the kernel as soon as it is free
(`M_TRIM_THRESHOLD`), and serves blocks above an adaptive threshold with their own `mmap` (`M_MMAP_THRESHOLD`), so
the next step's tensors land on fresh pages and each 4 KiB page costs a fault and a zeroing on first write (the
benchmark prints page faults per step; `python -m vrft.bench --no-keep-heap` gives the other side, docs/speed.md the
measured effect). `keep_heap()` raises both thresholds (trim: 2 GiB, mmap: 32 MiB, glibc's largest) and keeps one arena, so after
the first steps a step reuses the pages the previous one freed. Results do not change: tensors get the same alignment, only their addresses differ. The cost is that the process keeps its peak
heap (the peak itself is unchanged).

`runtime.keep_heap` (conf/runtime/cpu.yaml) turns it on for `python -m vrft`; the benchmark's vrft side applies the
same setting. Left out: allocators other than glibc's (musl, jemalloc or tcmalloc preloaded: `mallopt` is then
absent or has no effect, and a debug line says so), blocks above 32 MiB (still one `mmap` each), GPU memory
(PyTorch's CUDA caching allocator already keeps it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

log = logging.getLogger(__name__)

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
SETTINGS = ((M_TRIM_THRESHOLD, 2**31 - 1), (M_MMAP_THRESHOLD, 32 * 2**20), (M_ARENA_MAX, 1))


def keep_heap(enabled: bool = True) -> bool:
    """Set glibc's malloc to keep freed memory (see module doc); True when every setting took effect."""
    if not enabled or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        log.debug("keep_heap: no mallopt in this process's C library")
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    ok = all(mallopt(param, value) == 1 for param, value in SETTINGS)
    if not ok:
        log.debug("keep_heap: mallopt refused a setting; the allocator keeps its defaults")
    return ok
