"""Builders that turn the typed config into objects; `vrft.run` calls them in order.

Kept apart from `run.py` so tests and benchmarks build the same objects the same way. Left out: anything that
reads a DictConfig (the config was validated into dataclasses before this point).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import lightning as L

from vrft.checkpointing.callbacks import Checkpointer
from vrft.checkpointing.layout import Checkpoint, checkpoint_root
from vrft.config import RunCfg, TaskCfg
from vrft.data.collate import MicroBatches, PromptCollator, SFTCollator
from vrft.data.datamodule import TrainData
from vrft.data.rows import sft_target
from vrft.evaluation.callback import PeriodicEval
from vrft.evaluation.runner import EvalSpec, Evaluator
from vrft.grpo.module import GRPOModule
from vrft.grpo.reference import build_reference
from vrft.logging.sample_logger import SampleLogger
from vrft.models.codec import codec_for
from vrft.models.loader import load_model
from vrft.models.lora import apply_lora, freeze_vision_tower
from vrft.rewards.combine import Rewards, RewardSpec
from vrft.rewards.sets import reward_set
from vrft.rollout.engines import build_engine
from vrft.rollout.logps import LogProbs
from vrft.rollout.sampling import Tokens, generation_tokens
from vrft.runtime.backends import check_run_backends, check_trainer_backend
from vrft.sft import SFTModule


def build_policy(cfg: RunCfg):
    """(policy, processor, codec, tokens): loaded, LoRA applied or vision frozen as configured."""
    # the first builder a run calls: a missing GPU, deepspeed or vllm fails here, before anything loads
    check_run_backends(cfg)
    if (cfg.model.path or "").startswith(
        "synthetic:"
    ):  # the synthetic world's base model, built on first use
        from vrft.synthetic.base import base_model_path

        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, path=str(base_model_path(cfg))))
    model, processor = load_model(cfg.model, Path(cfg.paths.cache_dir))
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
    """The configured rewards, scored from the set `reward.compat` names; compat monitors under `official` or
    on request."""
    r = cfg.reward
    specs = tuple(RewardSpec(name, f.weight, dict(f.kwargs)) for name, f in r.functions.items())
    return Rewards(specs, reward_set(r.compat), r.compat_monitors or r.compat == "official")


def build_module(cfg: RunCfg, policy, processor, tokens: Tokens, loggers, codec) -> L.LightningModule:
    a = cfg.algo
    if a.kind == "sft":
        return SFTModule(policy, a, cfg.trainer.max_steps)
    r = cfg.rollout
    engine = build_engine(r, tokens, processor)
    logps = LogProbs(temperature=r.sampling.temperature, shared_prefill=r.shared_prefill)
    reference = build_reference(policy, beta=a.beta, lora=cfg.model.lora.enabled, logps=logps)
    samples = SampleLogger(loggers, codec, every=cfg.logger.log_samples_every_n_steps)
    return GRPOModule(
        policy,
        processor,
        a,
        rewards=build_rewards(cfg),
        rollout_engine=engine,
        logps=logps,
        max_completion_length=r.sampling.max_new_tokens,
        reference=reference,
        max_steps=cfg.trainer.max_steps,
        on_samples=samples,
    )


def build_datamodule(cfg: RunCfg, data, processor, start_step: int = 0) -> TrainData:
    a = cfg.algo
    inner = (
        SFTCollator(processor, lambda row: sft_target(row, think=a.sft_think))
        if a.kind == "sft"
        else PromptCollator(processor)
    )
    return TrainData(
        data.train_rows,
        MicroBatches(inner, a.prompts_per_batch),
        prompts_per_step=a.prompts_per_step,
        seed=cfg.seed,
        num_workers=cfg.data.num_workers,
        start_step=start_step,
    )


def build_trainer(
    cfg: RunCfg, loggers, evaluator: Evaluator, run_dir: Path, *, resume_from: Checkpoint | None = None
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
    callbacks.append(
        Checkpointer(
            checkpoint_root(run_dir),
            every=cfg.checkpoint.every_n_steps,
            keep=cfg.checkpoint.keep,
            max_consecutive_skips=t.max_consecutive_skips,
            resume_from=resume_from,
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
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        deterministic=t.deterministic,
        default_root_dir=str(run_dir),
        use_distributed_sampler=False,
    )
