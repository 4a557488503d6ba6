"""The benchmark's printed figures: one line per side, a Markdown table (as docs/speed.md shows them), and `speedup_vs_trl: X`; in
the device mode, one table of the vrft side (generated tokens/s, step time and its split, peak memory).

Left out: running anything (vrft.bench.__main__).
"""

from __future__ import annotations

from vrft.bench.workload import BenchSpec


def side_line(r: dict) -> str:
    return (
        f"{r['side']}: {r['completions_per_s']:.2f} completions/s, median step {r['step_s_median']:.2f} s, "
        f"warm-up step {sum(r.get('warmup_s', [])):.1f} s, "
        f"CPU {r['cpu_per_wall']:.2f} s per wall s, {r.get('minor_faults_per_step', 0):.0f} page faults per step, "
        f"peak RSS {r['peak_rss_mib']:.0f} MiB (ru_maxrss), precision {r['precision']}, "
        f"{'shared prefill, ' if r.get('shared_prefill') else ''}"
        f"{'lean decode, ' if r.get('lean_decode') else ''}"
        f"{'lean step, ' if r.get('lean_step') else ''}"
        f"{'kept prefill, ' if r.get('keep_prefill') else ''}"
        f"{'compiled decode, ' if r.get('compile_decode') else ''}"
        f"{'kept heap, ' if r.get('keep_heap') else ''}"
        f"{'OpenMP spin, ' if r.get('omp_spin') else ''}"
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


def device_table(spec: BenchSpec, command: str, r: dict, load: str) -> str:
    """The device mode's Markdown table: throughput, step time, peak memory, then the step-time split."""
    gpu = f"{r['peak_gpu_gib']:.1f} GiB (torch.cuda.max_memory_allocated)" if r.get("peak_gpu_gib") else "-"
    tps = r.get("generated_tokens_per_s")
    rows = [
        f"Command: `{command.strip()}` (load average before: {load})",
        "",
        f"Work per step: {spec.prompts} prompts x G={spec.group} completions of {spec.length} tokens (forced), "
        f"one {spec.image_size}px image per prompt, {spec.prompts_per_batch or spec.prompts} prompts per "
        f"micro-batch, beta {spec.beta}, {spec.steps} measured steps after {spec.warmup} warm-up.",
        "",
        "| model | parameters | device | precision | generated tokens/s (rollout) | completions/s (step) "
        "| median step (s) | peak GPU memory | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {r['model']} (random weights) | {params(r['params'])} | {r['device']} | {r['precision']} "
        f"| {tps:.1f} | {r['completions_per_s']:.2f} | {r['step_s_median']:.2f} | {gpu} "
        f"| {r['peak_rss_mib']:.0f} |",
        "",
        "| part of a vrft step | seconds |",
        "|---|---|",
    ]
    rows += [f"| {k} | {v:.3f} |" for k, v in r["split_s"].items()]
    rows += ["", f"generated_tokens_per_s: {tps:.1f}"]
    return "\n".join(rows)


def params(n: int) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.2f} M"
