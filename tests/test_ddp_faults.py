"""DDP on 2 CPU processes (gloo) when only one rank's loss is non-finite: every rank skips the step together.

Rank 1's reward is infinite at its second call (so its advantages and loss are NaN) while rank 0's is finite. Each
rank deciding alone would leave rank 0 waiting forever in DDP's gradient all-reduce; the decision is agreed across
ranks, so the run ends, with the one skipped step counted once on each rank. This file is the training script
(`python tests/test_ddp_faults.py OUT`), which Lightning starts again for rank 1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CALLS = {"n": 0}


def _inf_on_rank1_second_call(completions, **columns):
    """A dense reward, infinite on rank 1's second call only."""
    from vrft.rewards.parse import completion_text

    CALLS["n"] += 1
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    if rank == 1 and CALLS["n"] == 2:
        return [float("inf")] * len(completions)
    return [len(completion_text(c)) / 10.0 for c in completions]


def worker(out: Path) -> None:
    """Train three steps on two ranks; each rank writes its skip counter and whether its weights stayed finite."""
    import lightning as L

    from tests.conftest import compose_run
    from tests.test_ddp import OVERRIDES
    from vrft.assemble import assemble
    from vrft.rewards import REWARDS

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    if "ddp_inf" not in REWARDS:
        REWARDS.register("ddp_inf")(_inf_on_rank1_second_call)
    overrides = [o for o in OVERRIDES if "ddp_length" not in o and "max_steps" not in o]
    overrides += [
        "+reward.functions.ddp_inf.weight=1.0",
        "trainer.max_steps=3",
        "trainer.max_consecutive_skips=0",
    ]
    cfg = compose_run(
        [*overrides, "trainer.devices=2", "trainer.strategy=ddp"], out, Path(os.environ["VRFT_CACHE"])
    )
    L.seed_everything(cfg.seed, verbose=False)
    parts = assemble(cfg)
    module = parts.module([])
    trainer = parts.trainer([])
    trainer.fit(module, datamodule=parts.datamodule())
    finite = all(bool(torch.isfinite(p).all()) for p in module.policy.parameters())
    result = {"skipped": module.skipped_steps, "steps": trainer.global_step, "finite": finite}
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(result))


def test_nan_on_one_rank_skips_the_step_on_every_rank(tmp_path, cache_dir):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VRFT_CACHE": str(cache_dir), "HF_HUB_OFFLINE": "1"}
    env.update(OMP_NUM_THREADS="1", WANDB_MODE="offline", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, str(Path(__file__).resolve()), str(tmp_path)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:  # without the agreed decision rank 0 waits in the all-reduce until killed
        _, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # both ranks: Lightning starts rank 1 in this session
        proc.communicate()
        raise AssertionError("DDP run hung: the ranks disagreed about skipping a step") from None
    assert proc.returncode == 0, err[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks == [{"skipped": 1, "steps": 3, "finite": True}] * 2, ranks


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
