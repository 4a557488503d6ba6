"""The vrft side of the benchmark: the GRPO LightningModule trained by Lightning, built by `vrft.assemble` exactly as
`python -m vrft` builds it, with the completion length forced (min_new_tokens = max_new_tokens) and the fast paths
switched through the `rollout` config group, as a user would switch them.

The step-time split comes from the module's own `train/time/*` metrics (rollout, scoring, reference pass, policy
pass, backward, optimizer, data), averaged over the measured steps. For the device mode it also reports generated
tokens per rollout second, the model's parameter count and peak GPU memory (the module's `train/mem/peak_gib`;
None off CUDA, where `peak_rss_mib` is the figure). Left out: evaluation, checkpoints, final model.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from vrft.bench.arch import ARCHS, build_arch
from vrft.bench.clock import StepClock, summarize
from vrft.bench.workload import BenchSpec, cache_dir, compose

SPLIT_KEYS = (
    "data",
    "rollout",
    "scoring",
    "reference_pass",
    "policy_pass",
    "backward",
    "optimizer",
)


class _Clock(L.Callback):
    def __init__(self, clock: StepClock):
        self.clock = clock

    def on_train_start(self, trainer, pl_module) -> None:
        self.clock.start()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.clock.tick()


def _capture_logger():
    from lightning.pytorch.loggers import Logger

    class Capture(Logger):
        name = "bench"
        version = "0"

        def __init__(self):
            super().__init__()
            self.rows: list[dict] = []

        def log_metrics(self, metrics, step=None):
            self.rows.append(dict(metrics))

        def log_hyperparams(self, params, *args, **kwargs):
            pass

    return Capture()


def run(spec: BenchSpec, out_dir: Path) -> dict:
    from vrft.assemble import assemble

    torch.set_num_threads(spec.threads)
    extra = []
    if spec.model in ARCHS:  # the real architecture with random weights, built once (no download)
        extra.append(f"model.path={build_arch(spec.model, cache_dir(spec), device=spec.device)}")
    cfg = compose(spec, out_dir, extra)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    parts = assemble(cfg)
    capture = _capture_logger()
    module = parts.module([capture])
    trainer = parts.trainer([capture])
    clock = StepClock()
    trainer.callbacks.append(_Clock(clock))
    trainer.fit(module, datamodule=parts.datamodule())
    out = summarize(clock, warmup=spec.warmup, completions_per_step=spec.completions_per_step)
    out["split_s"] = split(capture.rows[spec.warmup :])
    out["completion_len"] = mean_of(capture.rows, "train/completion_len")
    out["precision"] = cfg.trainer.precision
    r = cfg.rollout
    out["shared_prefill"] = r.shared_prefill
    out["lean_decode"] = r.lean_decode and r.shared_prefill
    out["lean_step"] = out["lean_decode"] and r.lean_step
    out["keep_prefill"] = r.shared_prefill and r.keep_prefill
    out["compile_decode"] = out["lean_step"] and r.compile_decode
    out.update(device_figures(capture.rows, spec, parts.policy))
    return out


def device_figures(rows: list[dict], spec: BenchSpec, policy) -> dict:
    """Generated tokens per rollout second over the measured steps, parameters, peak GPU memory (GiB)."""
    measured = [r for r in rows[spec.warmup :] if "train/time/rollout" in r]
    tokens = sum(r["train/completion_len"] * spec.completions_per_step for r in measured)
    rollout_s = sum(r["train/time/rollout"] for r in measured)
    peaks = [r["train/mem/peak_gib"] for r in rows if "train/mem/peak_gib" in r]
    return {
        "generated_tokens_per_s": tokens / rollout_s if rollout_s else None,
        "params": sum(p.numel() for p in policy.parameters()),
        "peak_gpu_gib": max(peaks) if peaks else None,
        "device": spec.device,
        "model": spec.model,
    }


def mean_of(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if key in r]
    return sum(vals) / len(vals) if vals else None


def split(rows: list[dict]) -> dict[str, float]:
    """Mean seconds per step of each part over the given steps' logged metrics."""
    out = {}
    for k in SPLIT_KEYS:
        v = mean_of(rows, f"train/time/{k}")
        if v is not None:
            out[k] = v
    return out
