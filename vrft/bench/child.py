"""One side of the benchmark in its own process: `python -m vrft.bench.child {vrft|trl} SPEC_JSON OUT_JSON`.

A process per side keeps each side's peak memory (`ru_maxrss`) its own and leaves no state (threads, caches,
autocast) from one side to the other. Left out: everything but running the side and writing its figures.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from pathlib import Path


def main(argv: list[str]) -> None:
    side, spec_json, out_json = argv
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    from vrft.bench.workload import BenchSpec
    from vrft.runtime.heap import keep_heap
    from vrft.runtime.omp import spin_omp

    spec = BenchSpec(**json.loads(Path(spec_json).read_text()))
    process = {  # before torch loads libgomp and allocates anything
        "keep_heap": keep_heap(spec.keep_heap if side == "vrft" else spec.trl_keep_heap),
        # as runtime.omp_spin: on for CPU runs, off on a GPU (conf/trainer/gpu.yaml)
        "omp_spin": spin_omp(
            (spec.omp_spin and spec.device == "cpu") if side == "vrft" else spec.trl_omp_spin
        ),
    }
    out_dir = Path(out_json).parent / side
    out_dir.mkdir(parents=True, exist_ok=True)
    if side == "vrft":
        from vrft.bench.vrft_side import run
    elif side == "trl":
        from vrft.bench.trl_side import run
    else:
        raise SystemExit(f"side must be vrft or trl, got {side!r}")
    Path(out_json).write_text(json.dumps({"side": side, **process, **run(spec, out_dir)}))


if __name__ == "__main__":
    main(sys.argv[1:])
