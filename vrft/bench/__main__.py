"""`python -m vrft.bench [--steps N] [--warmup N] [--length T] ...`: run the vrft side, then the TRL side, each in its
own process, and print completions/s, peak memory, the step-time split, a Markdown table and, last,
`speedup_vs_trl: X` (vrft completions/s over TRL's).

Device mode, `python -m vrft.bench --device cuda --model qwen2_vl_2b` (or `qwen2_5_vl_3b`, or any conf/model name):
the vrft side alone, on a random-weight model with the real architecture (vrft.bench.arch), with the paper's
per-step work (`--work paper`, the default off the CPU comparison: 16 prompts x G = 8, 256 tokens, 448 px, bf16;
any flag given explicitly wins); it prints generated tokens/s, the step-time split and peak memory.

Timings on a shared machine are only meaningful when it is otherwise idle: the 1-minute load average is printed
first, and `--max-load L` waits (up to `--wait` seconds) until it is below L. Left out: repeating invocations
(run the command several times and take the median).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vrft.bench.report import device_table, side_line, split_line, table
from vrft.bench.workload import PAPER_WORK, BenchSpec


def parse(argv: list[str]) -> tuple[BenchSpec, argparse.Namespace]:
    d = BenchSpec()
    p = argparse.ArgumentParser(
        prog="python -m vrft.bench",
        description="vrft's GRPO training against TRL's GRPOTrainer on the same work (see vrft.bench).",
    )
    for f in dataclasses.fields(BenchSpec):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=getattr(d, f.name))
        else:
            kind = {"int": int, "float": float, "str": str}[str(f.type)]
            p.add_argument(flag, type=kind, default=getattr(d, f.name))
    p.add_argument(
        "--sides", default=None, help="comma-separated: vrft, trl (default: both on the CPU comparison)"
    )
    p.add_argument(
        "--work", choices=("bench", "paper"), default=None, help="paper: the paper's per-step work"
    )
    p.add_argument("--max-load", type=float, default=None, help="wait until the 1-minute load is below this")
    p.add_argument("--wait", type=float, default=600.0, help="longest wait for --max-load, seconds")
    args = p.parse_args(argv)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(BenchSpec)}
    spec = BenchSpec(**values)
    args.work = args.work or ("bench" if spec.comparison else "paper")
    if args.work == "paper":  # flags given on the command line keep their values
        given = {a.split("=")[0][2:].replace("-", "_") for a in argv if a.startswith("--")}
        spec = BenchSpec(**{**values, **{k: v for k, v in PAPER_WORK.items() if k not in given}})
        if spec.prompts_per_batch:  # fewer prompts than the paper's micro-batch: whole micro-batches still
            spec = dataclasses.replace(spec, prompts_per_batch=math.gcd(spec.prompts, spec.prompts_per_batch))
    args.sides = args.sides or ("vrft,trl" if spec.comparison else "vrft")
    if "trl" in args.sides.split(",") and not spec.comparison:
        p.error(f"the TRL side runs the CPU comparison only (--device cpu --model {BenchSpec.model})")
    if "trl" in args.sides.split(",") and not trl_installed():
        p.error("the TRL side needs trl, an optional extra: pip install 'vrft[bench]' (or run --sides vrft)")
    return spec, args


def trl_installed() -> bool:
    """True when trl (the optional extra `vrft[bench]`) can be imported; it is not imported here."""
    try:
        return importlib.util.find_spec("trl") is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules
        return False


def load_average() -> float:
    return os.getloadavg()[0]


def wait_for_quiet(max_load: float | None, wait: float) -> None:
    if max_load is None:
        return
    deadline = time.monotonic() + wait
    while load_average() >= max_load and time.monotonic() < deadline:
        time.sleep(10)


def run_side(side: str, spec: BenchSpec, tmp: Path) -> dict:
    spec_json, out_json = tmp / "spec.json", tmp / f"{side}.json"
    spec_json.write_text(json.dumps(spec.to_dict()))
    cmd = [sys.executable, "-m", "vrft.bench.child", side, str(spec_json), str(out_json)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"the {side} side failed (exit {done.returncode}):\n{tail}")
    return json.loads(out_json.read_text())


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    spec, args = parse(argv)
    wait_for_quiet(args.max_load, args.wait)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average: {load}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="vrft-bench-") as tmp:
        for side in args.sides.split(","):
            results[side] = run_side(side, spec, Path(tmp))
            print(side_line(results[side]), flush=True)
            print(split_line(results[side]), flush=True)
    if not spec.comparison:
        print()
        print(device_table(spec, "python -m vrft.bench " + " ".join(argv), results["vrft"], load))
    elif {"vrft", "trl"} <= set(results):
        command = "python -m vrft.bench " + " ".join(argv)
        print()
        print(table(spec, command.strip(), results["vrft"], results["trl"], load))
        print()
        print(
            f"speedup_vs_trl: {results['vrft']['completions_per_s'] / results['trl']['completions_per_s']:.2f}"
        )


if __name__ == "__main__":
    main()
