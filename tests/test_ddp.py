"""DDP on 2 CPU processes (gloo) trains like one process on the same data: same logged loss and reward, same
gradients at the optimizer step.

Both runs train the tiny model for one step on the same 2 prompts: one process takes both (2 micro-batches of one
prompt), DDP gives each rank one (the datamodule slices each step's prompts by rank; a prompt's G completions stay on
its rank). So that both runs sample the same completions, each prompt's group is drawn with a generator seeded from
the prompt's own token ids (the same sampling code, independent of which rank or micro-batch holds the prompt). The
runs go through Lightning's own DDP launcher: this file is the training script (`python tests/test_ddp.py OUT N`),
which Lightning starts again for rank 1. Metrics are reduced across ranks (`sync_dist`), gradients by DDP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = [
    "experiment=smoke",
    "logger=none",
    "trainer.max_steps=1",
    "trainer.accelerator=cpu",
    "eval.before=false",
    "save_final_model=false",
    "logger.log_samples_every_n_steps=0",
    "algo=grpo",  # loss "grpo": each micro-batch's share is its sequence count, as DDP's mean over ranks
    "algo.num_generations=4",
    "algo.prompts_per_step=2",
    "algo.prompts_per_batch=1",
    "rollout.sampling.max_new_tokens=8",
    "algo.lr=1e-4",
    "algo.grad_clip=1000.0",  # compare the raw averaged gradients
    "+reward.functions.ddp_length.weight=1.0",
]


def _length_reward(completions, **columns):
    """A dense reward (varies for a random policy), so the step has a non-zero policy gradient."""
    from vrft.rewards.parse import completion_text

    return [len(completion_text(c)) / 10.0 for c in completions]


class PromptSeeded:
    """The module's rollout engine, with each prompt's group sampled under a generator seeded by its prompt ids."""

    def __init__(self, engine):
        self.engine = engine

    def sample(self, model, inputs, group_size, *, images=None, keep_prefill=False):
        assert inputs["input_ids"].shape[0] == 1, "one prompt per micro-batch"
        ids = inputs["input_ids"][0]
        seed = int((ids * torch.arange(1, ids.numel() + 1)).sum()) % (2**31)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return self.engine.sample(model, inputs, group_size, images=images, keep_prefill=keep_prefill)

    def __call__(self, model, inputs, group_size, images=None):
        return self.sample(model, inputs, group_size, images=images)[0]

    def after_update(self, policy):
        self.engine.after_update(policy)


def worker(out: Path, devices: int) -> None:
    """Train one step; rank 0 writes the gradients seen by the optimizer and the logged metrics."""
    import lightning as L

    from tests.conftest import compose_run
    from vrft.assemble import assemble
    from vrft.rewards import REWARDS

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    if "ddp_length" not in REWARDS:
        REWARDS.register("ddp_length")(_length_reward)
    strategy = ["trainer.strategy=ddp"] if devices > 1 else []
    cfg = compose_run(
        [*OVERRIDES, f"trainer.devices={devices}", *strategy], out, Path(os.environ["VRFT_CACHE"])
    )
    L.seed_everything(cfg.seed, verbose=False)
    parts = assemble(cfg)
    capture = Capture()
    module = parts.module([capture.logger])
    module.rollout_engine = PromptSeeded(module.rollout_engine)
    trainer = parts.trainer([capture.logger])
    trainer.callbacks.append(GradDump(out))
    trainer.fit(module, datamodule=parts.datamodule())
    if trainer.global_rank == 0:
        metrics = {k: float(v) for _, m in capture.logger.rows for k, v in m.items()}
        (out / "metrics.json").write_text(json.dumps({"world_size": trainer.world_size, **metrics}))


class Capture:
    def __init__(self):
        from lightning.pytorch.loggers import Logger

        class _L(Logger):
            name, version = "capture", "0"

            def log_metrics(self, metrics, step=None):
                self.rows.append((step, dict(metrics)))

            def log_hyperparams(self, *args, **kwargs):
                pass

        self.logger = _L()
        self.logger.rows = []


class GradDump:
    """A Lightning callback: each rank records its prompts; rank 0 saves the gradients at the optimizer step."""

    def __new__(cls, out: Path):
        import lightning as L

        class _C(L.Callback):
            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
                ids = [mb["inputs"]["input_ids"].tolist() for mb in batch["micro"]]
                (out / f"prompts_rank{trainer.global_rank}.json").write_text(json.dumps(ids))

            def on_before_optimizer_step(self, trainer, pl_module, optimizer):
                if trainer.global_rank == 0:
                    grads = {
                        n: p.grad.clone()
                        for n, p in pl_module.policy.named_parameters()
                        if p.grad is not None
                    }
                    torch.save(grads, out / "grads.pt")

        return _C()


def launch(out: Path, devices: int, cache: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VRFT_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    env.update(OMP_NUM_THREADS="1", WANDB_MODE="offline", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, str(Path(__file__).resolve()), str(out), str(devices)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]


def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path, cache_dir):
    one, two = tmp_path / "one", tmp_path / "two"
    launch(one, 1, cache_dir)
    launch(two, 2, cache_dir)
    m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (one, two))
    assert (m1["world_size"], m2["world_size"]) == (1, 2)
    p1 = json.loads((one / "prompts_rank0.json").read_text())
    p2 = [json.loads((two / f"prompts_rank{r}.json").read_text()) for r in (0, 1)]
    assert len(p1) == 2 and [len(p) for p in p2] == [1, 1], "each rank holds one whole prompt (its group)"
    assert p1 == [p2[0][0], p2[1][0]], "the two ranks together hold the one-process step's prompts"
    for key in ("train/loss", "train/reward", "train/completion_len", "train/kl"):
        assert abs(m1[key] - m2[key]) <= 1e-5 * max(1.0, abs(m1[key])), (key, m1[key], m2[key])
    g1, g2 = (torch.load(d / "grads.pt") for d in (one, two))
    assert g1.keys() == g2.keys() and g1
    flat1, flat2 = (torch.cat([g[k].flatten() for k in sorted(g1)]) for g in (g1, g2))
    assert flat1.norm() > 0, "a zero gradient would make the comparison vacuous"
    assert (flat1 - flat2).norm() / flat1.norm() < 1e-5


if __name__ == "__main__":
    worker(Path(sys.argv[1]), int(sys.argv[2]))
