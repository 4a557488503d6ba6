"""CPU runs of the GRPO and SFT modules on the tiny model: parameters change, the reference does not, every metric
is logged, beta = 0 loads no reference, batch semantics hold; plus the full entry point with a W&B offline run."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import compose_run, register_test_reward

TEST_REWARD = register_test_reward()  # a dense reward, so every step has a policy gradient

FAST = [
    TEST_REWARD,
    "experiment=smoke",
    "logger=none",
    "trainer.max_steps=2",
    "eval.before=false",
    "eval.max_samples=4",
    "save_final_model=false",
    "logger.log_samples_every_n_steps=0",
]

GRPO_METRICS = [
    "loss",
    "kept_groups_frac",
    "reward",
    "reward_std",
    "frac_zero_std_groups",
    "kl",
    "clip_fraction",
    "completion_len",
    "completion_len_max",
    "truncated_frac",
    "entropy",
    "lr",
    "grad_norm",
    "skipped_steps",
    "time/rollout",
    "time/scoring",
    "time/training",
    "reward/iou",
    "reward/confidence",
    "reward/format",
    "hack/empty_answer_rate",
    "hack/pred_boxes_per_answer",
]


class Capture:
    """A minimal Lightning logger that keeps every logged metric."""

    def __init__(self):
        from lightning.pytorch.loggers import Logger

        class _L(Logger):
            name = "capture"
            version = "0"
            rows: list = []

            def log_metrics(self, metrics, step=None):
                self.rows.append((step, dict(metrics)))

            def log_hyperparams(self, params, *args, **kwargs):
                pass

        self.logger = _L()
        self.logger.rows = []

    def logged_keys(self) -> set[str]:
        return {k for _, m in self.logger.rows for k in m}


def fit(cfg, capture: Capture):
    from vrft.assemble import assemble

    parts = assemble(cfg)
    module = parts.module([capture.logger])
    before = {k: v.detach().clone() for k, v in module.policy.named_parameters()}
    ref = module.reference if hasattr(module, "reference") else None
    ref_before = None if ref is None or ref.model is None else [p.clone() for p in ref.model.parameters()]
    trainer = parts.trainer([capture.logger])
    trainer.fit(module, datamodule=parts.datamodule())
    changed = any(
        not torch.equal(before[k], v) for k, v in module.policy.named_parameters() if v.requires_grad
    )
    ref_same = ref_before is None or all(
        torch.equal(a, b) for a, b in zip(ref_before, ref.model.parameters(), strict=True)
    )
    return module, trainer, changed, ref_same


@pytest.mark.parametrize(
    "algo,extra",
    [
        ("grpo", []),
        ("dapo", []),
        ("dr_grpo", []),
        ("grpo", ["model.lora.enabled=true", "algo.beta=0.04"]),
        ("grpo", ["algo.num_iterations=2"]),
    ],
    ids=["grpo", "dapo", "dr_grpo", "lora", "mu2"],
)
def test_grpo_variants_train(tmp_path, cache_dir, algo, extra):
    cfg = compose_run([*FAST, f"algo={algo}", *extra], tmp_path, cache_dir)
    cap = Capture()
    module, trainer, changed, ref_same = fit(cfg, cap)
    assert changed, "no trainable parameter changed"
    assert ref_same, "the reference model changed"
    expected_steps = 2
    assert trainer.global_step == expected_steps
    keys = {k.removeprefix("train/") for k in cap.logged_keys()}
    missing = [k for k in GRPO_METRICS if k not in keys]
    assert not missing, f"metrics not logged: {missing}"
    if cfg.algo.beta == 0:
        assert module.reference is None
    else:
        assert module.reference is not None
        assert module.reference.adapter == cfg.model.lora.enabled


def test_lora_trains_only_adapter(tmp_path, cache_dir):
    cfg = compose_run([*FAST, "model.lora.enabled=true"], tmp_path, cache_dir)
    cap = Capture()
    module, _, changed, _ = fit(cfg, cap)
    trainable = [n for n, p in module.policy.named_parameters() if p.requires_grad]
    assert changed and trainable and all("lora_" in n for n in trainable)


def test_sft_trains(tmp_path, cache_dir):
    cfg = compose_run([*FAST, "algo=sft"], tmp_path, cache_dir)
    cap = Capture()
    module, trainer, changed, _ = fit(cfg, cap)
    assert changed and trainer.global_step == 2
    assert {"train/loss", "train/target_tokens", "train/lr"} <= cap.logged_keys()
    assert all(torch.isfinite(torch.tensor(m["train/loss"])) for _, m in cap.logger.rows if "train/loss" in m)


def test_batch_semantics(tmp_path, cache_dir):
    """prompts_per_step x G completions per step, split in micro-batches of whole groups."""
    cfg = compose_run(
        [
            *FAST,
            "algo.prompts_per_step=4",
            "algo.prompts_per_batch=2",
            "algo.num_generations=3",
            "trainer.max_steps=1",
        ],
        tmp_path,
        cache_dir,
    )
    from vrft.assemble import assemble

    parts = assemble(cfg)
    policy = parts.policy
    dm = parts.datamodule()
    dm.trainer = None
    batch = next(iter(dm.train_dataloader()))
    assert [len(mb["solution"]) for mb in batch["micro"]] == [2, 2]
    module = parts.module()
    rollouts = [module.rollout_engine(policy, mb["inputs"], 3) for mb in batch["micro"]]
    assert [r.num_sequences for r in rollouts] == [6, 6]
    # a group is one prompt: its G rows share the prompt ids and the image; the next group shows another image
    r = rollouts[0]
    assert torch.equal(r.prompt_ids[0], r.prompt_ids[2])
    first, second = (r.rows([g]).vision["pixel_values"] for g in (0, 1))
    half = first.shape[0] // 3
    assert torch.equal(first[:half], first[2 * half :]) and not torch.equal(first[:half], second[:half])
    # the rollout's prefill is kept for the policy pass only when one micro-batch makes the step (peak memory)
    from vrft.grpo.module import Timer

    assert all(k is None for k in module.sample(batch["micro"], Timer())[1])
    assert all(k is not None for k in module.sample(batch["micro"][:1], Timer())[1])


def test_beta_zero_loads_no_reference(tmp_path, cache_dir):
    cfg = compose_run([*FAST, "algo.beta=0.0"], tmp_path, cache_dir)
    from vrft.assemble import assemble

    module = assemble(cfg).module()
    assert module.reference is None
    assert not any("reference" in k for k in module.state_dict())


def test_reference_not_in_state_dict(tmp_path, cache_dir):
    cfg = compose_run(FAST, tmp_path, cache_dir)
    from vrft.assemble import assemble

    parts = assemble(cfg)
    policy, module = parts.policy, parts.module()
    assert module.reference is not None and module.reference.model is not None
    n_policy = len(policy.state_dict())
    assert len(module.state_dict()) == n_policy
    # kept out of .to() moves, the reference follows the policy's device when fitting starts (a GPU run)
    module.to(torch.device("meta"))
    assert next(module.reference.model.parameters()).device.type == "cpu"
    module.on_fit_start()
    assert next(module.reference.model.parameters()).device.type == "meta"


def test_entry_point_smoke_writes_summary_model_and_wandb(tmp_path):
    """`python -m vrft experiment=smoke` end to end: summary.json, final_model/, a W&B offline run."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HOME": str(tmp_path / "home"), "WANDB_MODE": "offline"}
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vrft",
            "experiment=smoke",
            f"hydra.run.dir={run_dir}",
            f"paths.cache_dir={tmp_path.parent / 'shared-cache'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("task", "algo", "model", "seed", "metric", "initial", "final", "steps"):
        assert key in summary
    assert summary["status"] == "ok" and summary["steps"] == 4
    assert (run_dir / "final_model" / "config.json").exists()
    from transformers import AutoModelForImageTextToText

    from vrft.models.processor import load_processor

    AutoModelForImageTextToText.from_pretrained(run_dir / "final_model")
    load_processor(run_dir / "final_model")
    assert list((run_dir / "wandb").glob("offline-run-*")), "no W&B offline run written"
    assert (run_dir / "metrics.jsonl").exists()
    logged = {k for line in (run_dir / "metrics.jsonl").read_text().splitlines() for k in json.loads(line)}
    assert {"eval/initial/recall@50", "eval/final/recall@50"} <= logged  # diagnostics of both evaluations
    assert (run_dir / "eval" / "diagnostics_final.json").exists()
    assert not (tmp_path / "home" / ".cache" / "wandb").exists()


def test_invalid_config_one_line(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "vrft", "algo.num_generations=1", f"hydra.run.dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "num_generations" in lines[0], proc.stderr


def test_in_loop_validation_logs_task_metric(tmp_path, cache_dir):
    cfg = compose_run([*FAST, "eval.val_every_n_steps=1"], tmp_path, cache_dir)
    from vrft.assemble import assemble

    parts = assemble(cfg)
    task = parts.task
    cap = Capture()
    module = parts.module([cap.logger])
    trainer = parts.trainer([cap.logger])
    trainer.fit(module, datamodule=parts.datamodule())
    val = [(step, m) for step, m in cap.logger.rows if f"val/{task.name}/mAP" in m]
    assert [step for step, _ in val] == [1]
    assert (tmp_path / "eval" / "metrics_step1.json").exists()
    assert f"val/{task.name}/recall@50" in val[0][1]  # detection diagnostics, logged and written too
    assert (tmp_path / "eval" / "diagnostics_step1.json").exists()
