"""The benchmark's shared workload: settings, the composed vrft run config, and the rows in serving order.

`BenchSpec` holds every setting both sides share. `compose(spec, out_dir)` builds the validated run config the way
`python -m vrft` does (Hydra compose over conf/), so the vrft side trains exactly what a user's run trains;
`rows_in_order` lists the training rows in the order vrft's step sampler serves them, which the TRL side receives
unshuffled. `PAPER_WORK` is the paper's per-step work for the device mode. Left out: the training loops
(vrft.bench.vrft_side, vrft.bench.trl_side).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from vrft.config import RunCfg


@dataclass(frozen=True)
class BenchSpec:
    steps: int = 4  # measured optimizer steps (after the warm-up)
    warmup: int = 1
    prompts: int = 2  # prompts per step; each gets G completions
    group: int = 8  # G
    length: int = 64  # completion tokens, forced on both sides (min = max)
    image_size: int = 224  # one square image per prompt (224 px = 64 merged vision tokens)
    beta: float = 0.04
    lr: float = 1e-6
    seed: int = 0
    threads: int = 2
    vrft_precision: str = (
        "32-true"  # Lightning precision of the vrft side (bf16-mixed is slower on AVX2-only CPUs)
    )
    trl_bf16: bool = False  # GRPOConfig.bf16 of the TRL side (its faster setting here: see vrft.bench docs)
    shared_prefill: bool = (
        True  # False: vrft's plain paths (prompt prefilled per completion), for a before/after
    )
    lean_decode: bool = True  # False: the shared rollout continues with `generate` (rollout.lean_decode)
    lean_step: bool = True  # False: decode steps run the model's forward (rollout.lean_step)
    compile_decode: bool = True  # False: the lean step runs eagerly (before its torch.compile)
    keep_prefill: bool = True  # False: the policy pass prefills the prompts again (rollout.keep_prefill)
    keep_heap: bool = (
        True  # vrft side: glibc malloc keeps freed memory (vrft.runtime.heap), as `python -m vrft` does
    )
    trl_keep_heap: bool = False  # TRL side: the same setting (off: the process defaults TRL runs with)
    omp_spin: bool = (
        True  # vrft side: OpenMP workers spin between regions (vrft.runtime.omp), as `python -m vrft` does
    )
    trl_omp_spin: bool = False  # TRL side: the same setting (off: libgomp's default policy)
    cache_dir: str = ""  # built models and synthetic worlds ("" = the checkout's .cache, as paths.cache_dir)
    device: str = "cpu"  # cpu | cuda (cuda: the vrft side alone, with trainer=gpu)
    model: str = "small_qwen2_vl"  # a conf/model name (qwen2_vl_2b, qwen2_5_vl_3b: see vrft.bench.arch)
    prompts_per_batch: int = 0  # prompts per micro-batch (0 = all of a step's prompts in one)

    @property
    def comparison(self) -> bool:
        """True for the CPU comparison against TRL (its model and device); False for the device mode."""
        return self.device == "cpu" and self.model == BenchSpec.model

    @property
    def completions_per_step(self) -> int:
        return self.prompts * self.group

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# The paper's per-step work (16 prompts x G = 8, 256 completion tokens, one ~448 px image each, bf16): the
# defaults of `--work paper`, which `--device cuda` selects. 4 prompts (32 completions) per micro-batch keeps the
# fp32 log-prob slice of a 151k vocabulary at a few GiB.
PAPER_WORK = dict(
    prompts=16, group=8, length=256, image_size=448, prompts_per_batch=4, vrft_precision="bf16-mixed"
)


def overrides(spec: BenchSpec, out_dir: Path) -> list[str]:
    return [
        "task=synth_det_fewshot",
        f"model={spec.model}",
        "algo=grpo",
        "trainer=" + ("gpu" if spec.device == "cuda" else "cpu"),
        "logger=none",
        f"task.synthetic.image_size={spec.image_size}",
        f"algo.num_generations={spec.group}",
        f"algo.prompts_per_step={spec.prompts}",
        f"algo.prompts_per_batch={spec.prompts_per_batch or spec.prompts}",
        f"rollout.sampling.max_new_tokens={spec.length}",
        f"rollout.sampling.min_new_tokens={spec.length}",  # every completion the cap's length, on both sides
        *switches(spec),
        f"algo.beta={spec.beta}",
        f"algo.lr={spec.lr}",
        f"trainer.max_steps={spec.warmup + spec.steps}",
        f"runtime.num_threads={spec.threads}",
        f"trainer.precision={spec.vrft_precision}",
        "eval.before=false",
        "eval.max_samples=1",  # the evaluator is built, never run
        "save_final_model=false",
        "logger.log_samples_every_n_steps=0",
        "checkpoint.every_n_steps=0",
        f"seed={spec.seed}",
        f"paths.cache_dir={cache_dir(spec)}",
        f"paths.output_dir={out_dir}",
    ]


def switches(spec: BenchSpec) -> list[str]:
    """The rollout fast paths the spec turns off (`--no-lean-step` -> `rollout.lean_step=false`); a path left on
    keeps the config's value (trainer=gpu's engine does not compile its decode step)."""
    names = ("shared_prefill", "lean_decode", "lean_step", "keep_prefill", "compile_decode")
    return [f"rollout.{name}=false" for name in names if not getattr(spec, name)]


def cache_dir(spec: BenchSpec) -> Path:
    from vrft.paths import ROOT

    return Path(spec.cache_dir).resolve() if spec.cache_dir else ROOT / ".cache"


def compose(spec: BenchSpec, out_dir: Path, extra: list[str] = ()) -> RunCfg:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from vrft.config import load_config
    from vrft.paths import CONF_DIR, register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("config", overrides=overrides(spec, out_dir) + list(extra))
    return load_config(cfg)


def rows_in_order(rows: list[dict], spec: BenchSpec) -> list[dict]:
    """The rows vrft's one-process step sampler serves over the whole run, in order."""
    from vrft.data.sampler import StepSampler

    sampler = StepSampler(len(rows), seed=spec.seed)
    n = (spec.warmup + spec.steps) * spec.prompts
    return [rows[sampler.index(i)] for i in range(n)]
