"""Step timestamps and the figures derived from them, shared by both sides of the benchmark.

Throughput counts only the measured steps: from the end of the last warm-up step to the end of the last step, so
data loading, rollout, scoring and update all count, and model loading and warm-up do not. Peak memory is the
process's `ru_maxrss` (the high-water mark of resident memory, model and framework included); page faults are its
`ru_minflt` per measured step. Left out: GPU memory.
"""

from __future__ import annotations

import resource
import statistics
import time


class StepClock:
    """`tick()` at the end of every optimizer step; `start()` once before training."""

    def __init__(self):
        self.ends: list[float] = []
        self.cpu: list[float] = []  # process CPU seconds (all threads) at each tick
        self.faults: list[int] = []  # minor page faults of the process so far, at each tick
        self.start()

    def start(self) -> None:
        self.t0, self.cpu0, self.faults0 = time.perf_counter(), time.process_time(), minor_faults()

    def tick(self) -> None:
        self.ends.append(time.perf_counter())
        self.cpu.append(time.process_time())
        self.faults.append(minor_faults())

    def step_times(self) -> list[float]:
        marks = [self.t0, *self.ends]
        return [b - a for a, b in zip(marks, marks[1:], strict=False)]


def summarize(clock: StepClock, *, warmup: int, completions_per_step: int) -> dict:
    """completions/s over the measured steps, their step times, CPU use per wall second, and the process's peak
    RSS in MiB."""
    times = clock.step_times()
    measured = times[warmup:]
    if not measured:
        raise RuntimeError(f"no measured steps: {len(times)} steps ran, warm-up {warmup}")
    cpu = [clock.cpu0, *clock.cpu]
    return {
        "completions_per_s": completions_per_step * len(measured) / sum(measured),
        # CPU seconds per wall second over the measured steps: near the thread count when nothing else competes
        "cpu_per_wall": (cpu[-1] - cpu[warmup]) / sum(measured),
        # page faults per measured step: fresh pages the allocator had to take from the kernel (vrft.runtime.heap)
        "minor_faults_per_step": (clock.faults[-1] - ([clock.faults0, *clock.faults][warmup]))
        / len(measured),
        "step_s_median": statistics.median(measured),
        "step_s": measured,
        "warmup_s": times[:warmup],
        "peak_rss_mib": peak_rss_mib(),
    }


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def peak_rss_mib() -> float:
    """ru_maxrss of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
