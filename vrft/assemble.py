"""`assemble(cfg)`: everything a run is made of, built from the validated config in one place and one order. Used by
`python -m vrft` (vrft.run), `python -m vrft.evaluate`, the benchmark and the tests, so each builds what a run builds.

`assemble(cfg)`: the machine checked for what the config names (GPU, DeepSpeed, vLLM) -> the model folder or hub id
checked to be there (vrft.models.loader.check_available) -> the task (a synthetic world written on first use) and
its data read and checked -> the synthetic world's base model built by its own experiment where `model.path` is
`synthetic:<experiment>` (vrft.synthetic.base, first use only) -> policy, processor, box codec and generation token
ids (LoRA applied, vision frozen as configured) -> the task's rows -> the held-out evaluator. So missing data or a
missing model fails in seconds, before any model is built or loaded. The `Assembly` then builds,
when its caller is ready for them: `module(loggers)` (GRPO or SFT, by `algo.kind` in `ALGOS`),
`trainer(loggers, resume_from=...)` and `datamodule(start_step)`. Left out: anything that reads a DictConfig (the
config was validated into dataclasses before this point), running (vrft.run), loggers (vrft.logging).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L

from vrft.checkpointing.callbacks import Checkpointer
from vrft.checkpointing.layout import Checkpoint, checkpoint_root
from vrft.config import RunCfg, TaskCfg, user_reward
from vrft.data.collate import MicroBatches, PromptCollator, SFTCollator
from vrft.data.datamodule import TrainData
from vrft.data.rows import sft_target
from vrft.data.tasks import TaskData, read_task, task_data
from vrft.evaluation.callback import PeriodicEval
from vrft.evaluation.runner import EvalSpec, Evaluator
from vrft.grpo.module import GRPOModule
from vrft.grpo.reference import build_reference
from vrft.logging.progress import progress_display
from vrft.logging.sample_logger import SampleLogger
from vrft.models.codec import codec_for
from vrft.models.loader import check_available, load_model
from vrft.models.lora import apply_lora, freeze_vision_tower
from vrft.models.spec import SYNTHETIC_PREFIX
from vrft.registry import Registry
from vrft.rewards.combine import Rewards, RewardSpec
from vrft.rewards.sets import reward_set
from vrft.rewards.user import with_user_rewards
from vrft.rollout.engines import build_engine
from vrft.rollout.logps import LogProbs
from vrft.rollout.sampling import Tokens, generation_tokens
from vrft.runtime.backends import check_run_backends, check_trainer_backend, warn_if_large_on_cpu
from vrft.runtime.signals import StopOnSignal
from vrft.sft import SFTModule
from vrft.synthetic.base import with_base_model

THINK_REWARDS = ("format",)  # rewards that take `think=prompt.think` (the layout they score)


@dataclass
class Assembly:
    """A run's parts built from config (see the module doc); `cfg.model.path` is the folder actually loaded."""

    cfg: RunCfg
    policy: Any
    processor: Any
    codec: Any
    tokens: Tokens
    task: TaskCfg
    data: TaskData
    evaluator: Evaluator

    def module(self, loggers: list = ()) -> L.LightningModule:
        """The LightningModule of `algo.kind` (`ALGOS`)."""
        return ALGOS.get(self.cfg.algo.kind).module(self, list(loggers))

    def datamodule(self, start_step: int = 0) -> TrainData:
        """The training rows served a step at a time (from `start_step` on: a resumed run's data position)."""
        a = self.cfg.algo
        return TrainData(
            self.data.train_rows,
            MicroBatches(ALGOS.get(a.kind).collator(self), a.prompts_per_batch),
            prompts_per_step=a.prompts_per_step,
            seed=self.cfg.seed,
            num_workers=self.cfg.data.num_workers,
            start_step=start_step,
        )

    def trainer(
        self, loggers: list = (), *, resume_from: Checkpoint | None = None, stop: StopOnSignal | None = None
    ) -> L.Trainer:
        """The Lightning Trainer writing into the run folder (`paths.output_dir`); `stop`: see vrft.runtime.signals."""
        return build_trainer(
            self.cfg,
            list(loggers),
            self.evaluator,
            Path(self.cfg.paths.output_dir),
            resume_from=resume_from,
            stop=stop,
        )


def assemble(cfg: RunCfg) -> Assembly:
    """Everything a run needs before its loggers: see the module doc for the order."""
    check_run_backends(cfg)  # a missing GPU, deepspeed or vllm fails here, before anything loads
    # a missing model folder, or a hub id neither cached nor downloadable: one line, in seconds
    if cfg.model.path is not None and not cfg.model.path.startswith(SYNTHETIC_PREFIX):
        check_available(cfg.model)
    task = resolve_task(cfg)
    records = read_task(task, seed=cfg.seed, skip_bad=cfg.data.skip_bad, max_test=cfg.eval.max_samples)
    cfg = with_base_model(cfg)  # synthetic:<experiment> -> the base model that experiment trains (built once)
    policy, processor, codec, tokens = build_policy(cfg)
    data = task_data(task, records, codec, cfg.prompt.think)
    out = Path(cfg.paths.output_dir) / "eval"
    evaluator = build_evaluator(cfg, task, data, processor, codec, tokens, out)
    return Assembly(cfg, policy, processor, codec, tokens, task, data, evaluator)


def build_policy(cfg: RunCfg):
    """(policy, processor, codec, tokens) of `cfg.model` (a folder or hub id, or a tiny model built locally):
    LoRA applied or vision frozen as configured."""
    model, processor = load_model(cfg.model, Path(cfg.paths.cache_dir))
    warn_if_large_on_cpu(model, cfg.trainer, cfg.model.name)
    model.train()
    codec = codec_for(model.config, processor.image_processor)
    tokens = generation_tokens(model, processor.tokenizer)
    m = cfg.model
    if m.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if m.lora.enabled:
        model = apply_lora(model, m.lora)
    if m.freeze_vision:
        freeze_vision_tower(model)
    return model, processor, codec, tokens


def resolve_task(cfg: RunCfg) -> TaskCfg:
    """The task config with a synthetic world's split paths filled in (the world is written on first use)."""
    task = cfg.task
    if not task.synthetic:
        return task
    from vrft.synthetic import world_task

    return world_task(task, Path(cfg.paths.cache_dir))


def build_evaluator(
    cfg: RunCfg, task: TaskCfg, data, processor, codec, tokens: Tokens, out_dir: Path
) -> Evaluator:
    spec = EvalSpec(
        task=task.name,
        family=task.family,
        metric=task.metric,
        rows=data.test_rows,
        codec=codec,
        gt_json=data.gt_json,
        lvis=data.lvis,
        categories=data.eval_categories,
        batch_size=cfg.eval.batch_size,
        max_new_tokens=cfg.eval.max_new_tokens,
    )
    return Evaluator(
        spec,
        processor,
        eos_ids=tokens.eos_ids,
        pad_id=tokens.pad_id,
        suppress_ids=tokens.suppress_ids,
        out_dir=out_dir,
    )


def build_rewards(cfg: RunCfg) -> Rewards:
    """The configured rewards, scored from the set `reward.compat` names, the format reward bound to
    `prompt.think`'s layout; compat monitors under `official` or on request."""
    r = cfg.reward
    specs = tuple(
        RewardSpec(
            name, f.weight, {**f.kwargs, **({"think": cfg.prompt.think} if name in THINK_REWARDS else {})}
        )
        for name, f in r.functions.items()
    )
    official = r.compat == "official"
    user = {name: user_reward(name, f.fn) for name, f in r.functions.items() if f.fn is not None}
    registry = with_user_rewards(reward_set(r.compat), user)
    return Rewards(
        specs,
        registry,
        r.compat_monitors or official,
        math_verify_monitor=official,
        think=cfg.prompt.think,
    )


def grpo_module(a: Assembly, loggers: list) -> GRPOModule:
    cfg, r = a.cfg, a.cfg.rollout
    engine = build_engine(r, a.tokens, a.processor)
    logps = LogProbs(temperature=r.sampling.temperature, shared_prefill=r.shared_prefill)
    reference = build_reference(a.policy, beta=cfg.algo.beta, lora=cfg.model.lora.enabled, logps=logps)
    samples = SampleLogger(loggers, a.codec, every=cfg.logger.log_samples_every_n_steps)
    return GRPOModule(
        a.policy,
        a.processor,
        cfg.algo,
        rewards=build_rewards(cfg),
        rollout_engine=engine,
        logps=logps,
        max_completion_length=r.sampling.max_new_tokens,
        reference=reference,
        max_steps=cfg.trainer.max_steps,
        on_samples=samples,
    )


def sft_collator(a: Assembly):
    think = a.cfg.prompt.think
    return SFTCollator(a.processor, lambda row: sft_target(row, a.cfg.algo.sft_think, think))


@dataclass(frozen=True)
class Algo:
    """How an `algo.kind` trains: its LightningModule and the collator of its micro-batches."""

    module: Callable[[Assembly, list], L.LightningModule]
    collator: Callable[[Assembly], Callable]


ALGOS = Registry("algo kind")
ALGOS.register("grpo")(Algo(grpo_module, lambda a: PromptCollator(a.processor)))
ALGOS.register("sft")(
    Algo(lambda a, loggers: SFTModule(a.policy, a.cfg.algo, a.cfg.trainer.max_steps), sft_collator)
)


def build_trainer(
    cfg: RunCfg,
    loggers,
    evaluator: Evaluator,
    run_dir: Path,
    *,
    resume_from: Checkpoint | None = None,
    stop: StopOnSignal | None = None,
) -> L.Trainer:
    t = cfg.trainer
    check_trainer_backend(t)  # a GPU or DeepSpeed config on a machine without them: one clear line, now
    callbacks = []
    if cfg.eval.val_every_n_steps > 0:
        callbacks.append(
            PeriodicEval(
                evaluator, every=cfg.eval.val_every_n_steps, task=cfg.task.name, metric=cfg.task.metric
            )
        )
    progress_bar, shown = progress_display(cfg.progress)  # a bar on a terminal, plain lines in a log
    callbacks.extend(shown)
    callbacks.append(
        Checkpointer(
            checkpoint_root(run_dir),
            every=cfg.checkpoint.every_n_steps,
            keep=cfg.checkpoint.keep,
            max_consecutive_skips=t.max_consecutive_skips,
            resume_from=resume_from,
            stop=stop,
        )
    )
    return L.Trainer(
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=t.precision,
        max_steps=t.max_steps,
        logger=loggers or False,
        callbacks=callbacks,
        log_every_n_steps=t.log_every_n_steps,
        enable_checkpointing=False,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        deterministic=t.deterministic,
        default_root_dir=str(run_dir),
        use_distributed_sampler=False,
    )
