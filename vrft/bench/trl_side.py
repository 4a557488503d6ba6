"""The TRL side of the benchmark: TRL's GRPOTrainer on the same model, rows (same order, unshuffled), rewards and
settings as the vrft side, in its best configuration on this CPU.

TRL is given the policy and processor vrft loads (the same weights, chat template and image preprocessing), vrft's
reward functions (they follow TRL's protocol) with their weights, beta 0.04, loss "grpo", group-scaled rewards,
the same sampling settings and suppressed vision tokens, and `min_new_tokens = max_completion_length` so every
completion has the cap's length on both sides. Gradient checkpointing is off (it only slows a CPU run); bf16
follows `BenchSpec.trl_bf16`. The step-time split times TRL's own methods (`Split`). Left out: vLLM,
TRL's continuous batching, multi-process runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from vrft.bench.clock import StepClock, summarize
from vrft.bench.workload import BenchSpec, compose, rows_in_order


def dataset(rows: list[dict]):
    from datasets import Dataset

    from vrft.data.collate import load_image

    def prompt(problem: str) -> list[dict]:
        return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": problem}]}]

    return Dataset.from_list(
        [
            {"prompt": prompt(r["problem"]), "image": load_image(r["image"]), "solution": r["solution"]}
            for r in rows
        ]
    )


def config(spec: BenchSpec, out_dir: Path, suppress_ids: list[int], weights: list[float]):
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=str(out_dir),
        per_device_train_batch_size=spec.completions_per_step,  # counts completions
        num_generations=spec.group,
        gradient_accumulation_steps=1,
        max_completion_length=spec.length,
        generation_kwargs={"min_new_tokens": spec.length, "suppress_tokens": suppress_ids},
        temperature=1.0,
        top_p=1.0,
        top_k=50,
        repetition_penalty=1.0,
        beta=spec.beta,
        loss_type="grpo",
        scale_rewards="group",
        num_iterations=1,
        epsilon=0.2,
        reward_weights=weights,
        learning_rate=spec.lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        max_steps=spec.warmup + spec.steps,
        seed=spec.seed,
        bf16=spec.trl_bf16,
        use_cpu=True,
        gradient_checkpointing=False,
        shuffle_dataset=False,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        log_completions=False,
    )


class Split:
    """Seconds per part of TRL's steps, from timers wrapped around the trainer's own methods (instance attributes,
    so nothing outside this trainer changes): rollout (`_generate_single_turn`), scoring (`_calculate_rewards`),
    log-prob passes without gradients (reference) and with them (policy), backward (`accelerator.backward`)."""

    def __init__(self):
        self.parts: dict[str, float] = {}
        self.steps: list[dict[str, float]] = []

    def wrap(self, obj, method: str, name) -> None:
        fn = getattr(obj, method)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                key = name() if callable(name) else name
                self.parts[key] = self.parts.get(key, 0.0) + time.perf_counter() - start

        setattr(obj, method, timed)

    def instrument(self, trainer) -> None:
        self.wrap(trainer, "_generate_single_turn", "rollout")
        self.wrap(trainer, "_calculate_rewards", "scoring")
        logps = lambda: "policy_pass" if torch.is_grad_enabled() else "reference_pass"  # noqa: E731
        self.wrap(trainer, "_get_per_token_logps_and_entropies", logps)
        self.wrap(trainer.accelerator, "backward", "backward")

    def end_step(self) -> None:
        self.steps.append(self.parts)
        self.parts = {}


def callback(clock: StepClock, split: Split):
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            clock.start()

        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            self.t = time.perf_counter()

        def on_optimizer_step(self, args, state, control, **kwargs):
            split.parts["optimizer"] = time.perf_counter() - self.t

        def on_step_end(self, args, state, control, **kwargs):
            clock.tick()
            split.end_step()

    return Clock()


def run(spec: BenchSpec, out_dir: Path) -> dict:
    from trl import GRPOTrainer

    from vrft.assemble import assemble, build_rewards

    torch.set_num_threads(spec.threads)
    torch.manual_seed(spec.seed)
    cfg = compose(spec, out_dir)
    parts = assemble(cfg)
    policy, processor, tokens, data = parts.policy, parts.processor, parts.tokens, parts.data
    rewards = build_rewards(cfg)
    clock, parts = StepClock(), Split()
    trainer = GRPOTrainer(
        model=policy,
        reward_funcs=rewards.fns(),
        args=config(spec, out_dir, tokens.suppress_ids, rewards.weights),
        train_dataset=dataset(rows_in_order(data.train_rows, spec)),
        processing_class=processor,
        callbacks=[callback(clock, parts)],
    )
    parts.instrument(trainer)
    trainer.train()
    out = summarize(clock, warmup=spec.warmup, completions_per_step=spec.completions_per_step)
    out["split_s"] = mean_parts(parts.steps[spec.warmup :])
    out["completion_len"] = spec.length
    out["precision"] = "bf16 (autocast)" if spec.trl_bf16 else "fp32"
    return out


def mean_parts(steps: list[dict[str, float]]) -> dict[str, float]:
    keys = ("rollout", "scoring", "reference_pass", "policy_pass", "backward", "optimizer")
    return {k: sum(st.get(k, 0.0) for st in steps) / max(1, len(steps)) for k in keys}
