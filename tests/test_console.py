"""What a run prints: every line once, no third-party tips or known deprecation noise, and training progress (a
plain line every N steps where stdout is not a terminal, Lightning's progress bar over optimizer steps on one).
The command-line cases run the real entry point (`python -m vrft`) on the smoke experiment, cut down."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from types import SimpleNamespace

import pytest

from tests.conftest import ROOT
from tests.test_resume import SMOKE, vrft_cmd, vrft_env

HYDRA_PREFIX = re.compile(r"^\[[^\]]+\]\[[^\]]+\]\[[A-Z]+\] - ")  # [time][logger][LEVEL] -
FAST = [*SMOKE, "trainer.max_steps=4", "eval.before=false", "save_final_model=false"]


def run_smoke(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        vrft_cmd(tmp_path / "run", [*FAST, *extra]),
        cwd=ROOT,
        env=vrft_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def messages(text: str) -> list[str]:
    """Each printed line without its prefix (Hydra's, or Lightning's own `INFO: `), so copies compare equal."""
    lines = [HYDRA_PREFIX.sub("", ln).removeprefix("INFO: ").strip() for ln in text.splitlines()]
    return [ln for ln in lines if ln]


def test_a_run_in_a_log_prints_each_line_once_no_tips_and_a_progress_line_every_n_steps(tmp_path):
    proc = run_smoke(tmp_path, "progress.every_n_steps=2")
    out = proc.stdout + proc.stderr
    twice = [m for m, n in Counter(messages(out)).items() if n > 1]
    assert not twice, out[-3000:]
    assert "GPU available" in out  # Lightning's lines are kept, once
    for noise in ("Tip", "litlogger", "LeafSpec", "processor_kwargs", "Loading weights"):
        assert noise not in out, noise
    steps = re.findall(r"step (\d+)/4 .*? s/step", out)
    assert steps == ["1", "2", "4"], out[-3000:]  # the first step, every 2nd and the last
    assert re.search(r"step 1/4  reward \S+  kl \S+  loss \S+  \d+\.\d+ s/step  ETA \S+", out), out[-3000:]


def test_the_progress_bar_counts_optimizer_steps(tmp_path):
    proc = run_smoke(
        tmp_path, "progress.mode=bar"
    )  # as on a terminal (tqdm draws to the captured stdout too)
    last = proc.stdout.split("\r")[-1]
    assert re.search(r"train: 100%.*\| 4/4 \[.*s/step, reward=.*kl=.*loss=", proc.stdout), proc.stdout[-2000:]
    assert "step 4/4" not in proc.stdout.replace(last, "")  # no plain lines beside the bar
    assert "Tip" not in proc.stdout + proc.stderr


def test_the_display_follows_the_mode_and_the_terminal():
    from lightning.pytorch.callbacks import ProgressBar

    from vrft.config import ProgressCfg
    from vrft.logging.progress import StepBar, StepLines, progress_display

    bar, (cb,) = progress_display(ProgressCfg("auto", 5), tty=True)
    assert bar and isinstance(cb, StepBar) and isinstance(cb, ProgressBar)
    bar, (cb,) = progress_display(ProgressCfg("auto", 5), tty=False)
    assert not bar and isinstance(cb, StepLines) and cb.every == 5
    assert progress_display(ProgressCfg("off", 5), tty=True) == (False, [])
    assert isinstance(progress_display(ProgressCfg("lines", 5), tty=True)[1][0], StepLines)


def test_progress_lines_are_due_at_the_first_step_of_a_life_every_n_and_the_last(caplog):
    from vrft.logging.progress import StepLines

    lines = StepLines(every=10)
    trainer = SimpleNamespace(global_step=40, max_steps=65, callback_metrics={"train/reward": 0.5})
    lines.on_train_start(trainer, None)  # a run resumed at step 40
    printed = []
    with caplog.at_level("INFO", logger="vrft.progress"):
        for step in (41, 41, 42, 50, 60, 65):  # 41 twice: a skipped (non-finite) step does not count
            trainer.global_step = step
            lines.on_train_batch_end(trainer, None, None, None, 0)
        printed = [r.getMessage().split("  ")[0] for r in caplog.records]
    assert printed == ["step 41/65", "step 50/65", "step 60/65", "step 65/65"]


def test_progress_line_and_duration():
    from vrft.logging.progress import duration, progress_line, shown_metrics

    metrics = shown_metrics(
        {"train/reward": 0.53125, "train/kl": 0.00124, "train/loss": 0.0103, "train/lr": 1.0}
    )
    assert list(metrics) == ["reward", "kl", "loss"]
    line = progress_line(20, 300, metrics, 1.42)
    assert line == "step 20/300  reward 0.5312  kl 0.00124  loss 0.0103  1.42 s/step  ETA 6m38s"
    assert progress_line(300, 300, {"loss": 2.0}, 0.5) == "step 300/300  loss 2  0.50 s/step"
    assert [duration(s) for s in (4.4, 59.6, 398, 7500)] == ["4s", "1m00s", "6m38s", "2h05m"]


def test_quiet_console_leaves_one_handler_per_line_and_drops_tips(monkeypatch):
    import logging

    from vrft.logging.console import quiet_console

    root, lightning = logging.getLogger(), logging.getLogger("lightning")
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    own = logging.StreamHandler(sys.stderr)
    monkeypatch.setattr(root, "handlers", [handler])
    monkeypatch.setattr(lightning, "handlers", [own])
    monkeypatch.setattr(root, "level", logging.INFO)
    quiet_console()
    assert own not in lightning.handlers and lightning.propagate
    logging.getLogger("lightning.pytorch.utilities.rank_zero").info("💡 Tip: try litlogger")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").info("GPU available: False")
    assert seen == ["GPU available: False"]


@pytest.mark.parametrize("key", ["progress.mode", "progress.every_n_steps"])
def test_progress_settings_do_not_block_a_resume(key):
    from vrft.checkpointing.run_config import changed_keys

    first = {"progress": {"mode": "auto", "every_n_steps": 10}, "seed": 0}
    now = {"progress": {"mode": "off", "every_n_steps": 1}, "seed": 0}
    assert changed_keys(first, now) == []
    assert changed_keys({"seed": 0}, now) == []  # a run folder from before the key existed
