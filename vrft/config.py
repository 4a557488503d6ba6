"""Typed schemas for the composed config, and the one validation step before anything loads.

`load_config(cfg)` merges the composed Hydra config into these dataclasses (unknown keys and wrongly typed values
are refused) and then checks ranges and names; every problem becomes a `ConfigError` whose one-line message names
the key and what is allowed. Names are checked against the registry or module that owns them (a loss type against
`LOSS_AGGREGATIONS`, a reader against `READERS`, ...), so no name is listed twice; the `model` and `rollout` groups'
schemas are their packages' own specs (vrft.models.spec, vrft.rollout.spec). `load_runtime` checks the `runtime` node
alone, for the entry points to apply before anything imports torch. Everything below `run.py` receives these
dataclasses, never a DictConfig. Left out: the `hydra` node (Hydra validates its own settings).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vrft.errors import ConfigError
from vrft.models.spec import SYNTHETIC_PREFIX, ModelSpec
from vrft.rewards.format import check_think
from vrft.rollout.spec import RolloutSpec
from vrft.runtime.cpu_isa import ISAS


@dataclass
class SplitCfg:
    reader: str = "coco"
    path: str | None = None
    images: str | None = None
    split: str = "train"


@dataclass
class TaskCfg:
    name: str = "???"
    family: str = "detection"
    shots: int | None = None
    categories: list[str] | None = None
    eval_categories: list[str] | None = None
    prompt: str = "detection"
    prompt_fields: dict[str, Any] = field(default_factory=dict)
    metric: str = "mAP"
    query: str = "gt"
    train_query: str = "gt"  # gt: the shots' (image, category) pairs | all: every category of each shot image
    # with train_query all: absent-category queries kept per positive one of an image (None: all of them)
    train_negatives: float | None = None
    exist_map: str | None = None
    synthetic: dict[str, Any] | None = None
    train: SplitCfg = field(default_factory=SplitCfg)
    test: SplitCfg = field(default_factory=SplitCfg)


@dataclass
class PromptCfg:
    think: str = "on"  # vrft.rewards.format.THINK_MODES; YAML's bare on/off (booleans) are read as "on"/"off"


@dataclass
class RewardFnCfg:
    weight: float = 1.0
    kwargs: dict[str, Any] = field(default_factory=dict)
    fn: str | None = None  # a reward of your own, by import path (vrft.rewards.user); None: the built-in


@dataclass
class RewardCfg:
    functions: dict[str, RewardFnCfg] = field(default_factory=dict)
    compat: str = "hardened"  # a reward set (vrft.rewards.sets): hardened | official
    compat_monitors: bool = False  # log train/hack/compat/* (always under compat=official)


@dataclass
class AlgoCfg:
    name: str = "grpo"
    kind: str = "grpo"
    num_generations: int = 8
    prompts_per_step: int = 16
    prompts_per_batch: int = 1
    beta: float = 0.04
    kl: str = "k3"
    loss_type: str = "grpo"
    scale_rewards: str = "group"
    adv_eps: float = 1e-4
    epsilon_low: float = 0.2
    epsilon_high: float = 0.2
    importance_sampling_level: str = "token"
    num_iterations: int = 1
    dynamic_sampling: bool = False
    dynamic_sampling_max_tries: int = 3
    lr: float = 1e-6
    lr_schedule: str = "linear"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    adam_eps: float = 1e-8
    adam_fused: bool = True
    grad_clip: float = 1.0
    sft_think: bool = False

    @property
    def grad_accum(self) -> int:
        return self.prompts_per_step // self.prompts_per_batch


@dataclass
class TrainerCfg:
    accelerator: str = "cpu"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    max_steps: int = 200
    log_every_n_steps: int = 1
    deterministic: bool = False
    max_consecutive_skips: int = 10


@dataclass
class RuntimeCfg:
    num_threads: int | None = None
    cpu_isa: str = "avx2"
    keep_heap: bool = True
    omp_spin: bool = True


@dataclass
class LoggerCfg:
    kind: str = "wandb"
    project: str = "vrft"
    entity: str | None = None
    mode: str = "auto"
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    log_samples_every_n_steps: int = 50


@dataclass
class ProgressCfg:
    mode: str = "auto"
    every_n_steps: int = 10


@dataclass
class CheckpointCfg:
    every_n_steps: int = 0
    keep: int = 2


@dataclass
class PathsCfg:
    root: str = "."
    data_dir: str = "data"
    cache_dir: str = ".cache"
    output_dir: str = "outputs"


@dataclass
class DataCfg:
    num_workers: int = 0
    skip_bad: bool = False


@dataclass
class EvalCfg:
    before: bool = True
    batch_size: int = 16
    max_new_tokens: int = 256
    max_samples: int | None = None
    val_every_n_steps: int = 0


@dataclass
class RunCfg:
    task: TaskCfg = field(default_factory=TaskCfg)
    prompt: PromptCfg = field(default_factory=PromptCfg)
    model: ModelSpec = field(default_factory=ModelSpec)
    algo: AlgoCfg = field(default_factory=AlgoCfg)
    reward: RewardCfg = field(default_factory=RewardCfg)
    trainer: TrainerCfg = field(default_factory=TrainerCfg)
    runtime: RuntimeCfg = field(default_factory=RuntimeCfg)
    rollout: RolloutSpec = field(default_factory=RolloutSpec)
    logger: LoggerCfg = field(default_factory=LoggerCfg)
    progress: ProgressCfg = field(default_factory=ProgressCfg)
    checkpoint: CheckpointCfg = field(default_factory=CheckpointCfg)
    paths: PathsCfg = field(default_factory=PathsCfg)
    data: DataCfg = field(default_factory=DataCfg)
    eval: EvalCfg = field(default_factory=EvalCfg)
    seed: int = 0
    save_final_model: bool = True
    resume: bool = False
    resume_allow: list[str] = field(default_factory=list)
    experiment: Any = None
    sweep: Any = None


def load_config(cfg: DictConfig) -> RunCfg:
    """Type-check and range-check a composed config; raise ConfigError with a one-line message."""
    plain = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]) if "hydra" in cfg else cfg
    try:
        merged = OmegaConf.merge(OmegaConf.structured(RunCfg), plain)
        run: RunCfg = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        msg = str(err).splitlines()[0]
        raise ConfigError(f"config key {key}: {msg}") from None
    run.prompt.think = _YAML_BOOLS.get(run.prompt.think, run.prompt.think)
    check(run)
    return run


# YAML 1.1 reads a bare `on` / `off` as a boolean, which the str field holds as "True" / "False"
_YAML_BOOLS = {"True": "on", "False": "off"}


def load_runtime(cfg: DictConfig) -> RuntimeCfg:
    """The `runtime` node alone, type- and name-checked: the entry points apply it before anything imports torch."""
    try:
        node = cfg.get("runtime") or {}
        runtime: RuntimeCfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RuntimeCfg), node))  # type: ignore[assignment]
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        raise ConfigError(f"config key runtime.{key}: {str(err).splitlines()[0]}") from None
    _one_of("runtime.cpu_isa", runtime.cpu_isa, ISAS)
    return runtime


def _require(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid: {allowed}")


def _one_of(key: str, value: Any, choices) -> None:
    """`value` must be a name of `choices` (a registry, or the tuple of a module that owns the names)."""
    _require(value in choices, key, value, "must be one of " + ", ".join(choices))


def check(run: RunCfg) -> None:
    """Range and name checks that types alone cannot express."""
    check_task(run.task)
    check_task_model(run.task, run.model)
    check_think(run.prompt.think)
    check_algo(run.algo)
    check_reward(run.reward)
    m = run.model
    _require(m.path is not None or m.tiny is not None, "model.path", m.path, "set a local folder or hub id")
    _require(0 < m.min_pixels <= m.max_pixels, "model.max_pixels", m.max_pixels, "must be >= min_pixels > 0")
    _require(run.trainer.max_steps >= 0, "trainer.max_steps", run.trainer.max_steps, "must be >= 0")
    check_rollout(run.rollout)
    check_logger(run.logger)
    check_progress(run.progress)
    _require(
        run.checkpoint.every_n_steps >= 0, "checkpoint.every_n_steps", run.checkpoint.every_n_steps, ">= 0"
    )
    _require(run.checkpoint.keep >= 1, "checkpoint.keep", run.checkpoint.keep, "must be >= 1")
    _require(
        run.trainer.max_consecutive_skips >= 0,
        "trainer.max_consecutive_skips",
        run.trainer.max_consecutive_skips,
        "must be >= 0 (0 = never stop)",
    )
    _require(run.eval.batch_size > 0, "eval.batch_size", run.eval.batch_size, "must be > 0")
    _one_of("runtime.cpu_isa", run.runtime.cpu_isa, ISAS)


def check_task_model(t: TaskCfg, m: ModelSpec) -> None:
    """A real dataset with a synthetic world's base model is refused: the base would be built (minutes) for a model
    that knows only the synthetic world's words and coordinates."""
    if t.synthetic is None and (m.path or "").startswith(SYNTHETIC_PREFIX):
        raise ConfigError(
            f"task={t.name} reads a real dataset, but model={m.name} is the synthetic world's base model "
            f"(model.path={m.path}); pass a real model, e.g. model=qwen2_vl_2b (the paper's, with trainer=gpu), "
            "or model=tiny_qwen2_vl to try the data pipeline on a CPU"
        )


def check_logger(lg: LoggerCfg) -> None:
    from vrft.logging.loggers import LOGGERS
    from vrft.logging.wandb_env import MODES

    _one_of("logger.kind", lg.kind, LOGGERS)
    _one_of("logger.mode", lg.mode, MODES)


def check_progress(p: ProgressCfg) -> None:
    from vrft.logging.progress import MODES

    _one_of("progress.mode", p.mode, MODES)
    _require(p.every_n_steps >= 1, "progress.every_n_steps", p.every_n_steps, "must be >= 1")


def check_task(t: TaskCfg) -> None:
    from vrft.data.coco import QUERIES
    from vrft.data.tasks import READERS, TRAIN_QUERIES
    from vrft.evaluation.runner import METRICS

    _one_of("task.family", t.family, METRICS)
    _one_of("task.query", t.query, QUERIES)
    _one_of("task.train_query", t.train_query, TRAIN_QUERIES)
    _require(
        t.train_query == "gt" or t.train.reader in ("coco", "lvis"),
        "task.train_query",
        t.train_query,
        f"'all' needs a COCO or LVIS training split (task.train.reader is {t.train.reader!r})",
    )
    _require(
        t.train_negatives is None or t.train_negatives >= 0,
        "task.train_negatives",
        t.train_negatives,
        "must be >= 0 (absent-category queries per positive one) or null (all)",
    )
    _require(
        t.shots is None or t.shots > 0, "task.shots", t.shots, "must be a positive integer or null (all)"
    )
    _require(
        t.query != "exist_map" or bool(t.exist_map),
        "task.exist_map",
        t.exist_map,
        "needed for query=exist_map",
    )
    for split in ("train", "test"):
        _one_of(f"task.{split}.reader", getattr(t, split).reader, READERS)


def check_algo(a: AlgoCfg) -> None:
    from vrft.assemble import ALGOS
    from vrft.grpo.advantages import SCALES
    from vrft.grpo.loss import IMPORTANCE_SAMPLING_LEVELS, KL_ESTIMATORS, LOSS_AGGREGATIONS
    from vrft.policy_module import SCHEDULES

    _one_of("algo.kind", a.kind, ALGOS)
    if a.kind == "grpo":
        _require(
            a.num_generations >= 2,
            "algo.num_generations",
            a.num_generations,
            "GRPO needs >= 2 generations per prompt (group advantages)",
        )
    _require(a.beta >= 0, "algo.beta", a.beta, "must be >= 0")
    _one_of("algo.kl", a.kl, KL_ESTIMATORS)
    _one_of("algo.loss_type", a.loss_type, LOSS_AGGREGATIONS)
    _one_of("algo.importance_sampling_level", a.importance_sampling_level, IMPORTANCE_SAMPLING_LEVELS)
    _one_of("algo.scale_rewards", a.scale_rewards, SCALES)
    _require(a.prompts_per_batch > 0, "algo.prompts_per_batch", a.prompts_per_batch, "must be > 0")
    _require(
        a.prompts_per_step % a.prompts_per_batch == 0,
        "algo.prompts_per_step",
        a.prompts_per_step,
        f"must be a multiple of algo.prompts_per_batch={a.prompts_per_batch}",
    )
    _require(a.num_iterations >= 1, "algo.num_iterations", a.num_iterations, "must be >= 1")
    _require(a.lr > 0, "algo.lr", a.lr, "must be > 0")
    _one_of("algo.lr_schedule", a.lr_schedule, SCHEDULES)
    _require(0 <= a.epsilon_low < 1, "algo.epsilon_low", a.epsilon_low, "must be in [0, 1)")
    _require(a.epsilon_high >= 0, "algo.epsilon_high", a.epsilon_high, "must be >= 0")


def check_rollout(r: RolloutSpec) -> None:
    from vrft.rollout.engines import ROLLOUTS

    _one_of("rollout.engine", r.engine, ROLLOUTS)
    s = r.sampling
    _require(s.temperature > 0, "rollout.sampling.temperature", s.temperature, "must be > 0 (sampling)")
    _require(0 < s.top_p <= 1, "rollout.sampling.top_p", s.top_p, "must be in (0, 1]")
    _require(s.max_new_tokens > 0, "rollout.sampling.max_new_tokens", s.max_new_tokens, "must be > 0")
    _require(
        0 <= s.min_new_tokens <= s.max_new_tokens,
        "rollout.sampling.min_new_tokens",
        s.min_new_tokens,
        "must be in [0, max_new_tokens]",
    )


def check_reward(r: RewardCfg) -> None:
    from vrft.rewards import REWARD_SETS  # light: pure Python

    _one_of("reward.compat", r.compat, REWARD_SETS)
    _require(bool(r.functions), "reward.functions", {}, "name at least one reward")
    for name, f in r.functions.items():
        if f.fn is None:
            _require(
                name in REWARD_SETS[r.compat],
                f"reward.functions.{name}",
                name,
                f"must be one of {', '.join(sorted(REWARD_SETS[r.compat]))}, or a reward of your own with "
                f"reward.functions.{name}.fn=package.module.function",
            )
        else:
            _require(
                name not in REWARD_SETS[r.compat],
                f"reward.functions.{name}.fn",
                f.fn,
                f"{name} is a built-in reward; give your own another name",
            )
            user_reward(name, f.fn)
        _require(
            "think" not in f.kwargs,
            f"reward.functions.{name}.kwargs.think",
            f.kwargs.get("think"),
            "set prompt.think instead (the run binds it to the format reward)",
        )
    if r.compat == "official" and importlib.util.find_spec("math_verify") is None:
        raise ConfigError(
            "reward.compat=official needs the math-verify package (pip install 'vrft[official]')"
        )


def user_reward(name: str, path: str):
    """The function `reward.functions.<name>.fn` names, imported and checked (vrft.rewards.user)."""
    from vrft.rewards.user import resolve

    return resolve(f"reward.functions.{name}.fn", path)
