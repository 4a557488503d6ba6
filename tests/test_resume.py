"""Checkpoints and exact resume: a run killed with SIGKILL after its step-8 checkpoint and resumed with
`resume=true` ends bit-identical to an uninterrupted run; checkpoint contents (LoRA adapter only, never the
reference), RNG round trips, weights_only loading, and the resume/overwrite guards of a run folder.

The runs use the smoke experiment. Its random tiny model earns zero reward on every completion, so advantages
and the policy gradient are zero; `algo.weight_decay` moves the policy away from the frozen reference, and the
KL term's gradient, computed on the sampled completions, then trains the weights and makes them depend on the
sampling RNG (so a resume that did not restore the generators would not end bit-identical).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import ROOT, TEST_CACHE, compose_run

SMOKE = [
    "experiment=smoke",
    "logger=none",
    "algo.weight_decay=0.1",
    "algo.num_generations=2",
    "rollout.sampling.max_new_tokens=8",
    "eval.max_samples=2",
    "eval.batch_size=2",
    "runtime.num_threads=1",
]
EXACT = [*SMOKE, "trainer.max_steps=12", "checkpoint.every_n_steps=4"]
FAST = [*SMOKE, "eval.before=false", "save_final_model=false"]  # in-process runs


def vrft_cmd(run_dir: Path, overrides: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vrft",
        *overrides,
        f"hydra.run.dir={run_dir}",
        f"paths.cache_dir={TEST_CACHE}",
    ]


def vrft_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "WANDB_MODE": "offline",
        "TOKENIZERS_PARALLELISM": "false",
        **extra,
    }


def run_vrft(run_dir: Path, overrides: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        vrft_cmd(run_dir, overrides),
        cwd=ROOT,
        env=vrft_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def kill_after(run_dir: Path, overrides: list[str], ready, timeout: float = 300) -> None:
    """Start a run, SIGKILL it as soon as `ready(run_dir)` holds, and wait for it to die."""
    proc = subprocess.Popen(
        vrft_cmd(run_dir, overrides),
        cwd=ROOT,
        env=vrft_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while not ready(run_dir):
            if proc.poll() is not None:
                pytest.fail(
                    f"the run ended (rc={proc.returncode}) before it could be killed: {proc.stderr.read()}"
                )
            if time.monotonic() > deadline:
                pytest.fail("the run did not reach the kill point in time")
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def latest_is(step: int):
    def ready(run_dir: Path) -> bool:
        path = run_dir / "checkpoints" / "latest"
        return path.is_file() and path.read_text().strip() == f"step-{step:08d}"

    return ready


def run_inprocess(overrides: list[str], out_dir: Path) -> dict:
    from vrft.run import run

    return run(compose_run(overrides, out_dir, TEST_CACHE))


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def metrics_by_step(run_dir: Path) -> dict[int, dict]:
    """The last metrics row logged for each step (a resumed run appends to the same file)."""
    rows: dict[int, dict] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if any(k.startswith("train/") for k in row):
            rows[row["step"]] = {k: v for k, v in row.items() if not k.startswith("train/time/")}
    return rows


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    differ = [k for k in a if a[k].dtype != b[k].dtype or not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"


def nested_tensors(obj, prefix: str = "") -> dict[str, torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return {prefix: obj}
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list | tuple) else []
    out: dict[str, torch.Tensor] = {}
    for k, v in items:
        out.update(nested_tensors(v, f"{prefix}/{k}"))
    return out


@pytest.mark.slow
def test_sigkill_after_checkpoint_then_resume_is_bit_exact(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    done = run_vrft(whole, EXACT)
    assert done.returncode == 0, done.stderr[-2000:]

    kill_after(killed, EXACT, latest_is(8))
    ckpts = killed / "checkpoints"
    assert not (killed / "summary.json").exists() and not (ckpts / "step-00000012").exists(), (
        "killed too late"
    )
    resumed = run_vrft(killed, [*EXACT, "resume=true"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    final_a = load_file(whole / "final_model" / "model.safetensors")
    final_b = load_file(killed / "final_model" / "model.safetensors")
    assert_same_tensors(final_a, final_b)
    step8, step12 = (load_file(ckpts / f"step-{s:08d}" / "policy.safetensors") for s in (8, 12))
    assert step8.keys() == step12.keys() and any(not torch.equal(step8[k], step12[k]) for k in step8), (
        "steps 9-12 changed nothing"
    )
    for name in ("optimizer.pt", "scheduler.pt", "state.pt"):
        a = torch.load(whole / "checkpoints" / "step-00000012" / name, weights_only=True)
        b = torch.load(ckpts / "step-00000012" / name, weights_only=True)
        assert_same_tensors(nested_tensors(a), nested_tensors(b))
    rows_a, rows_b = metrics_by_step(whole), metrics_by_step(killed)
    assert [rows_b[s] for s in range(8, 12)] == [rows_a[s] for s in range(8, 12)]  # same samples after resume
    sa, sb = summary(whole), summary(killed)
    assert sb["status"] == "ok" and sb["steps"] == 12 and sb["resumed_from"] == 8
    assert sb["initial"] == sa["initial"] is not None and sb["final"] == sa["final"]
    assert "eval initial" not in resumed.stdout  # read back from the first life's eval files, not recomputed
    assert sorted(p.name for p in ckpts.iterdir()) == ["latest", "step-00000008", "step-00000012"]


def test_checkpoint_holds_weights_optimizer_scheduler_rng_and_counters(tmp_path):
    run_inprocess([*FAST, "trainer.max_steps=3", "checkpoint.every_n_steps=2"], tmp_path)
    from vrft.checkpointing.layout import complete_checkpoints, read_latest

    ckpts = complete_checkpoints(tmp_path / "checkpoints")
    assert [c.step for c in ckpts] == [2, 3] and read_latest(tmp_path / "checkpoints") == "step-00000003"
    folder = ckpts[-1].path
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["meta.json", "policy.safetensors", "optimizer.pt", "scheduler.pt", "state.pt"]
    )
    state = torch.load(folder / "state.pt", weights_only=True)
    assert state["counters"] == {"global_step": 3, "skipped_steps": 0, "consecutive_skips": 0}
    assert set(state["rng"]) == {"python", "numpy", "torch", "cuda"}
    assert torch.load(folder / "scheduler.pt", weights_only=True)["last_epoch"] == 3
    opt = torch.load(folder / "optimizer.pt", weights_only=True)
    assert {float(s["step"]) for s in opt["state"].values()} == {3.0}
    weights = load_file(folder / "policy.safetensors")
    from vrft.assemble import assemble

    policy = assemble(compose_run(FAST, tmp_path / "fresh", TEST_CACHE)).policy
    params = dict(policy.named_parameters())  # each tensor once (tied weights once), no reference copy
    assert set(weights) <= set(policy.state_dict())
    assert sum(t.numel() for t in weights.values()) == sum(p.numel() for p in params.values())


@pytest.mark.parametrize(
    "variant",
    [["model.lora.enabled=true"], ["algo=sft"]],
    ids=["grpo_lora", "sft"],
)
def test_resume_after_a_finished_run_matches_one_longer_run(tmp_path, variant):
    """Two steps, then resumed to four, equals four steps (constant LR: the schedule does not see max_steps)."""
    run = [*FAST, *variant, "algo.lr_schedule=constant", "checkpoint.every_n_steps=2"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    run_inprocess([*run, "trainer.max_steps=4"], whole)
    first = run_inprocess([*run, "trainer.max_steps=2"], split)
    again = run_inprocess(
        [*run, "trainer.max_steps=4", "resume=true", "resume_allow=[trainer.max_steps]"], split
    )
    assert first["steps"] == 2 and again["steps"] == 4 and again["resumed_from"] == 2
    ckpt = "checkpoints/step-00000004/"
    weights = load_file(split / ckpt / "policy.safetensors")
    assert_same_tensors(load_file(whole / ckpt / "policy.safetensors"), weights)
    for name in ("optimizer.pt", "state.pt"):  # state.pt: the generators drew the same numbers
        a, b = (nested_tensors(torch.load(d / ckpt / name, weights_only=True)) for d in (whole, split))
        assert_same_tensors(a, b)
    adapter_only = all("lora_" in k for k in weights)
    assert adapter_only == ("model.lora.enabled=true" in variant)


def test_rng_state_round_trip_through_weights_only_file(tmp_path):
    import random

    import numpy as np

    from vrft.checkpointing.state import rng_state, set_rng_state

    torch.manual_seed(1), random.seed(2), np.random.seed(3)
    np.random.standard_normal()  # leaves a cached gaussian in the legacy state
    torch.save(rng_state(), tmp_path / "rng.pt")

    def draw():
        return random.random(), float(np.random.standard_normal()), torch.rand(3).tolist()

    first = draw()
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert draw() == first


def test_a_pickled_payload_in_a_checkpoint_is_refused_not_run(tmp_path):
    from vrft.checkpointing.state import load_file as load_ckpt_file
    from vrft.errors import CheckpointError

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"state": Payload()}, tmp_path / "optimizer.pt")
    with pytest.raises(CheckpointError, match="optimizer.pt: cannot be read"):
        load_ckpt_file(tmp_path / "optimizer.pt")
    assert not marker.exists()


def test_resume_guards_of_the_run_folder(tmp_path):
    from vrft.checkpointing.layout import resume_point, write_checkpoint
    from vrft.errors import CheckpointError

    with pytest.raises(CheckpointError, match=r"resume=true but .*checkpoints holds no complete checkpoint"):
        resume_point(tmp_path, resume=True)
    assert resume_point(tmp_path, resume=False) is None
    write_checkpoint(tmp_path / "checkpoints", 5, {"x.txt": lambda p: p.write_text("x")})
    with pytest.raises(
        CheckpointError, match="already holds checkpoints .newest step-00000005.; set resume=true"
    ):
        resume_point(tmp_path, resume=False)
    assert resume_point(tmp_path, resume=True).step == 5


def test_rotation_keeps_the_newest_and_latest_names_the_last(tmp_path):
    from vrft.checkpointing.layout import complete_checkpoints, read_latest, write_checkpoint

    root = tmp_path / "checkpoints"
    for step in (1, 2, 3, 4):
        write_checkpoint(root, step, {"w.txt": lambda p, s=step: p.write_text(str(s))}, keep=2)
        assert read_latest(root) == f"step-{step:08d}"
    assert [c.step for c in complete_checkpoints(root)] == [3, 4]
    write_checkpoint(root, 4, {"w.txt": lambda p: p.write_text("again")}, keep=2)  # the same step again
    assert (root / "step-00000004" / "w.txt").read_text() == "again"
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step-00000003", "step-00000004"]
