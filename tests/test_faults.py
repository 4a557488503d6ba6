"""Fault injection: a process killed while writing a checkpoint, a run killed mid-rollout, a full disk, and
non-finite rewards, advantages, losses and gradients. Each ends with no completed checkpoint lost and a run that
resumes (or, for numerical faults, with the step skipped, counted and logged)."""

from __future__ import annotations

import errno
import json
import math
import os
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.test_resume import FAST, SMOKE, kill_after, latest_is, run_inprocess, run_vrft, summary

# ---------------------------------------------------------------- checkpoint writes killed or failing midway


def tiny_training_state(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (s + 1))
    model(torch.randn(4, 3)).sum().backward()
    opt.step(), sched.step()
    return model, opt, sched


def state_files(seed: int, step: int) -> tuple[dict, dict]:
    from vrft.checkpointing.state import Counters, writers

    model, opt, sched = tiny_training_state(seed)
    return writers(model, opt, sched, Counters(step, 1, 0)), {
        k: v.clone() for k, v in model.state_dict().items()
    }


def assert_restores(folder: Path, weights: dict, step: int) -> None:
    from vrft.checkpointing.state import restore

    model, opt, sched = tiny_training_state(99)
    counters = restore(folder, model, opt, sched)
    assert counters.global_step == step
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())


def die(code: int):
    def fn(*args, **kwargs):
        os._exit(code)

    return fn


def in_child(fn) -> int:
    """Run `fn` in a forked process that ends by os._exit (no cleanup runs: a kill); return its exit code."""
    pid = os.fork()
    if pid == 0:
        try:
            fn()
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.parametrize("where", ["optimizer file", "after rename, before latest"])
def test_kill_during_checkpoint_write_keeps_the_previous(tmp_path, where):
    import vrft.checkpointing.layout as ck

    root = tmp_path / "checkpoints"
    files4, weights4 = state_files(seed=4, step=4)
    ck.write_checkpoint(root, 4, files4)
    files8, weights8 = state_files(seed=8, step=8)

    def write_and_die():
        if where == "optimizer file":
            files8["optimizer.pt"] = die(9)
        else:
            ck.write_text_atomic = die(9)
        ck.write_checkpoint(root, 8, files8)

    assert in_child(write_and_die) == 9
    assert ck.read_latest(root) == "step-00000004"
    assert_restores(root / "step-00000004", weights4, 4)
    if where == "optimizer file":  # torn: only a temporary folder, which the next write removes
        assert not (root / "step-00000008").exists()
        assert any(p.name.startswith(".tmp-step-00000008") for p in root.iterdir())
        assert ck.latest_checkpoint(root).step == 4
    else:  # the folder was complete: resuming takes it although `latest` was not updated yet
        assert ck.latest_checkpoint(root).step == 8
        assert_restores(root / "step-00000008", weights8, 8)
    ck.write_checkpoint(root, 12, state_files(seed=12, step=12)[0])
    kept = [4, 12] if where == "optimizer file" else [8, 12]
    assert sorted(p.name for p in root.iterdir()) == ["latest", *(f"step-{s:08d}" for s in kept)]
    assert ck.read_latest(root) == "step-00000012"


def test_error_during_checkpoint_write_leaves_nothing_behind(tmp_path):
    from vrft.checkpointing.layout import complete_checkpoints, read_latest, write_checkpoint

    root = tmp_path / "checkpoints"
    files4, weights4 = state_files(seed=4, step=4)
    write_checkpoint(root, 4, files4)
    files8, _ = state_files(seed=8, step=8)
    files8["scheduler.pt"] = lambda p: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error"))
    with pytest.raises(OSError, match="I/O error"):
        write_checkpoint(root, 8, files8)
    assert read_latest(root) == "step-00000004" and [c.step for c in complete_checkpoints(root)] == [4]
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step-00000004"]
    assert_restores(root / "step-00000004", weights4, 4)


def test_disk_full_fails_clearly_keeps_the_last_checkpoint_and_resumes(tmp_path, monkeypatch):
    import vrft.checkpointing.state as state
    from vrft.checkpointing.layout import read_latest
    from vrft.errors import CheckpointError

    real, calls = state.save_policy, []

    def full_disk(policy, path):
        calls.append(path)
        if len(calls) == 2:  # the second checkpoint: half a file, then no space left
            path.write_bytes(b"\0" * 10)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(policy, path)

    monkeypatch.setattr(state, "save_policy", full_disk)
    run = [*FAST, "trainer.max_steps=4", "checkpoint.every_n_steps=2"]
    with pytest.raises(CheckpointError) as err:
        run_inprocess(run, tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and "cannot write checkpoint step 4" in msg and "No space left on device" in msg
    assert msg.endswith(f"the last complete checkpoint is {tmp_path / 'checkpoints' / 'step-00000002'}")
    assert summary(tmp_path)["status"] == "failed"
    root = tmp_path / "checkpoints"
    assert read_latest(root) == "step-00000002" and sorted(p.name for p in root.iterdir()) == [
        "latest",
        "step-00000002",
    ]
    assert load_file(root / "step-00000002" / "policy.safetensors")

    monkeypatch.setattr(state, "save_policy", real)  # space freed: the run resumes from step 2
    resumed = run_inprocess([*run, "resume=true"], tmp_path)
    assert resumed["status"] == "ok" and resumed["steps"] == 4 and resumed["resumed_from"] == 2


@pytest.mark.slow
def test_sigkill_mid_rollout_then_resume(tmp_path):
    run = [*SMOKE, "eval.before=false", "trainer.max_steps=8", "checkpoint.every_n_steps=4"]

    def inside_step_5(run_dir: Path) -> bool:
        if not latest_is(4)(run_dir):
            return False
        time.sleep(0.05)  # the rollout is the first and longest part of a step
        return True

    kill_after(tmp_path, run, inside_step_5)
    root = tmp_path / "checkpoints"
    assert not (root / "step-00000008").exists() and not (tmp_path / "summary.json").exists()
    done = run_vrft(tmp_path, [*run, "resume=true"])
    assert done.returncode == 0, done.stderr[-2000:]
    s = summary(tmp_path)
    assert s["status"] == "ok" and s["steps"] == 8 and s["resumed_from"] == 4
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step-00000004", "step-00000008"]


# ---------------------------------------------------------------- non-finite rewards, advantages, losses, grads


class Faults:
    """Inject one fault kind at chosen (0-based) steps of an in-process run; record what each update did."""

    def __init__(self, monkeypatch, plan: dict[int, str]):
        import vrft.assemble as assemble
        import vrft.grpo.module as gm
        from vrft.policy_module import PolicyModule
        from vrft.registry import Registry
        from vrft.rewards.base import REWARDS
        from vrft.rewards.sets import reward_set

        self.plan, self.step, self.updates = plan, -1, {}
        step_fn, guarded, loss_fn, adv_fn, fmt = (
            gm.GRPOModule.training_step,
            PolicyModule.guarded_step,
            gm.policy_loss,
            gm.group_advantages,
            REWARDS["format"],
        )

        def training_step(module, batch, batch_idx):
            self.step = module.global_step
            return step_fn(module, batch, batch_idx)

        def guarded_step(module, loss_finite):
            before = [p.detach().clone() for p in module.policy.parameters() if p.requires_grad]
            out = guarded(module, loss_finite)
            after = [p.detach() for p in module.policy.parameters() if p.requires_grad]
            self.updates[self.step] = (
                any(not torch.equal(a, b) for a, b in zip(before, after, strict=True)),
                all(bool(torch.isfinite(a).all()) for a in after),
            )
            return out

        def policy_loss(logps, *args, **kwargs):
            loss, m = loss_fn(logps, *args, **kwargs)
            if self.kind == "loss":
                loss = loss * math.nan
            if self.kind == "gradient":  # finite value, NaN gradient (d sqrt(u)/du at 0 is inf, times 0)
                loss = loss + 0.0 * torch.sqrt(0.0 * logps.sum())
            return loss, m

        def advantages(*args, **kwargs):
            adv = adv_fn(*args, **kwargs)
            return adv.index_fill(0, torch.tensor([0]), math.nan) if self.kind == "advantage" else adv

        def format_reward(completions, **columns):
            scores = fmt(completions, **columns)
            bad = {"reward_inf": math.inf, "reward_nan": math.nan}.get(self.kind)
            return [bad, *scores[1:]] if bad is not None else scores

        monkeypatch.setattr(gm.GRPOModule, "training_step", training_step)
        monkeypatch.setattr(PolicyModule, "guarded_step", guarded_step)
        monkeypatch.setattr(gm, "policy_loss", policy_loss)
        monkeypatch.setattr(gm, "group_advantages", advantages)

        def with_faulty_format(compat: str) -> Registry:
            rewards = Registry("reward")
            rewards.update({**reward_set(compat), "format": format_reward})
            return rewards

        monkeypatch.setattr(assemble, "reward_set", with_faulty_format)  # the set the run scores with

    @property
    def kind(self) -> str | None:
        return self.plan.get(self.step)


def skipped_logged(run_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["train/skipped_steps"] for r in rows if "train/skipped_steps" in r]


def test_non_finite_reward_advantage_loss_gradient_never_reach_the_weights(tmp_path, monkeypatch):
    plan = {1: "loss", 2: "reward_inf", 3: "advantage", 4: "gradient"}
    faults = Faults(monkeypatch, plan)
    out = run_inprocess([*FAST, "trainer.max_steps=6"], tmp_path)
    assert sorted(faults.updates) == list(range(6))
    for step, (changed, finite) in faults.updates.items():
        assert finite, f"non-finite weights after step {step}"
        assert changed == (step not in plan), f"step {step} ({plan.get(step, 'clean')}): changed={changed}"
    assert out["skipped_steps"] == len(plan) and out["steps"] == 6
    assert skipped_logged(tmp_path) == [0, 1, 2, 3, 4, 4]


def test_nan_reward_skips_the_step(tmp_path, monkeypatch):
    faults = Faults(monkeypatch, {1: "reward_nan"})
    out = run_inprocess([*FAST, "trainer.max_steps=2"], tmp_path)
    assert all(finite for _, finite in faults.updates.values())
    assert out["skipped_steps"] == 1


def test_consecutive_skips_stop_the_run_and_keep_the_last_checkpoint(tmp_path, monkeypatch):
    from vrft.checkpointing.layout import latest_checkpoint
    from vrft.errors import DivergedError

    Faults(monkeypatch, {s: "loss" for s in range(2, 50)})
    run = [*FAST, "trainer.max_steps=50", "checkpoint.every_n_steps=2", "trainer.max_consecutive_skips=3"]
    with pytest.raises(DivergedError) as err:
        run_inprocess(run, tmp_path)
    msg = str(err.value)
    last = latest_checkpoint(tmp_path / "checkpoints")
    assert last is not None and last.step == 4
    assert msg == (
        f"training stopped at step 5: 3 consecutive steps had a non-finite reward, loss or gradient "
        f"(trainer.max_consecutive_skips=3); the last checkpoint is {last.path} (resume=true continues "
        "from it)"
    )
    good = load_file(tmp_path / "checkpoints" / "step-00000002" / "policy.safetensors")
    kept = load_file(last.path / "policy.safetensors")
    assert all(torch.equal(good[k], kept[k]) and torch.isfinite(kept[k]).all() for k in good)
    assert summary(tmp_path)["status"] == "failed"
