"""The benchmark's printed figures: one line per side, a README-ready Markdown table, and `speedup_vs_trl: X`.

Left out: running anything (vrft.bench.__main__).
"""

from __future__ import annotations

from vrft.bench.workload import BenchSpec


def side_line(r: dict) -> str:
    return (
        f"{r['side']}: {r['completions_per_s']:.2f} completions/s, median step {r['step_s_median']:.2f} s, "
        f"CPU {r['cpu_per_wall']:.2f} s per wall s, "
        f"peak RSS {r['peak_rss_mib']:.0f} MiB (ru_maxrss), precision {r['precision']}, "
        f"{'shared prefill, ' if r.get('shared_prefill') else ''}"
        f"completion length {r['completion_len']}"
    )


def split_line(r: dict) -> str:
    parts = ", ".join(f"{k} {v:.3f}" for k, v in r["split_s"].items())
    return f"{r['side']} split (s/step): {parts}"


def table(spec: BenchSpec, command: str, vrft: dict, trl: dict, load: str) -> str:
    speedup = vrft["completions_per_s"] / trl["completions_per_s"]
    rows = [
        f"Command: `{command}` (load average before: {load})",
        "",
        f"Work per step: {spec.prompts} prompts x G={spec.group} completions of {spec.length} tokens (forced), "
        f"one {spec.image_size}px image per prompt, beta {spec.beta}, {spec.steps} measured steps after "
        f"{spec.warmup} warm-up, {spec.threads} threads.",
        "",
        "| side | precision | completions/s | median step (s) | CPU s / wall s | peak RSS (MiB, ru_maxrss) |",
        "|---|---|---|---|---|---|",
    ]
    for r in (vrft, trl):
        rows.append(
            f"| {r['side']} | {r['precision']} | {r['completions_per_s']:.2f} | {r['step_s_median']:.2f} "
            f"| {r['cpu_per_wall']:.2f} | {r['peak_rss_mib']:.0f} |"
        )
    rows += ["", f"speedup (vrft / TRL completions/s): {speedup:.2f}", ""]
    rows += ["| part of a vrft step | seconds |", "|---|---|"]
    rows += [f"| {k} | {v:.3f} |" for k, v in vrft["split_s"].items()]
    rows += ["", "| part of a TRL step | seconds |", "|---|---|"]
    rows += [f"| {k} | {v:.3f} |" for k, v in trl["split_s"].items()]
    return "\n".join(rows)
