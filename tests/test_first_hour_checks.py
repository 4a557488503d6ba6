"""A newcomer's first hour, before anything trains: a real task with the synthetic default model, data and a model
that are not there, a model of real size on a CPU and a paper preset without DeepSpeed. Each is refused (or warned
about) in seconds, with one line saying what to pass, before any model is built or loaded."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, TEST_CACHE, compose_run
from tests.test_resume import vrft_env

REAL_TASKS = sorted(
    p.stem for p in (ROOT / "conf" / "task").glob("*.yaml") if not p.stem.startswith("synth_")
)


def vrft(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vrft", *args],
        cwd=ROOT,
        env=env or vrft_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize("task", REAL_TASKS)
def test_a_real_task_with_the_synthetic_default_model_is_refused(task, tmp_path):
    from vrft.errors import ConfigError

    assert len(REAL_TASKS) >= 8
    with pytest.raises(ConfigError, match=f"task={task} .* model=synth_cls_base .* model=qwen2_vl_2b"):
        compose_run([f"task={task}"], tmp_path, tmp_path / "cache")
    compose_run(
        [f"task={task}", "model=qwen2_vl_2b"], tmp_path, tmp_path / "cache"
    )  # a real model is accepted


def test_a_real_task_without_model_fails_in_seconds_before_building_the_base(tmp_path):
    cache = tmp_path / "cache"
    proc = vrft("task=coco_fewshot", f"paths.cache_dir={cache}", f"hydra.run.dir={tmp_path / 'run'}")
    line = one_error_line(proc)
    assert "task=coco_fewshot" in line and "model=qwen2_vl_2b" in line
    assert line.removeprefix("vrft: error: ") not in proc.stdout  # printed once (the log file keeps it too)
    assert not cache.exists()  # no base model built, no synthetic world written


def test_missing_data_is_found_before_any_model_is_built(tmp_path):
    from vrft.assemble import assemble
    from vrft.errors import DataError

    cache = tmp_path / "cache"
    cfg = compose_run(
        ["task=coco_fewshot", "model=tiny_qwen2_vl", f"paths.data_dir={tmp_path / 'none'}"], tmp_path, cache
    )
    with pytest.raises(DataError, match="instances_train2017.json.*cocodataset.org"):
        assemble(cfg)
    assert not cache.exists()  # the tiny model was not built first


def test_an_uncached_model_without_network_is_one_line_in_seconds(tmp_path):
    """An empty HF cache and a hub that refuses connections: the hub id, the cache folder searched and the command
    that downloads it, at once (transformers would retry for about a minute first)."""
    env = vrft_env(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT="http://127.0.0.1:9")
    env.pop("HF_HUB_OFFLINE")
    proc = vrft(
        "experiment=smoke",
        "model=qwen2_vl_2b",
        "logger=none",
        f"paths.cache_dir={TEST_CACHE}",
        f"hydra.run.dir={tmp_path / 'run'}",
        env=env,
    )
    line = one_error_line(proc)
    assert (
        "retry" not in (proc.stdout + proc.stderr).lower()
    )  # one request, no retries (timed in the next test)
    assert "Qwen/Qwen2-VL-2B-Instruct" in line and str(tmp_path / "hf" / "hub") in line
    assert "`hf download Qwen/Qwen2-VL-2B-Instruct`" in line and "cannot be reached" in line


def test_hub_ids_are_looked_up_in_the_cache_then_asked_of_the_hub_once(tmp_path, monkeypatch):
    from vrft.errors import ModelError
    from vrft.models import loader
    from vrft.models.spec import ModelSpec

    spec = ModelSpec(name="m", path="someone/some-model")
    asked: list[str] = []
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(loader, "hub_unreachable", lambda repo: asked.append(repo))  # the hub answers
    assert loader.check_available(spec) == "someone/some-model" and asked == ["someone/some-model"]
    monkeypatch.setattr(loader, "hub_unreachable", lambda repo: "the hub cannot be reached: ConnectError")
    with pytest.raises(ModelError, match="someone/some-model.*`hf download someone/some-model`"):
        loader.check_available(spec)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(loader, "hub_unreachable", lambda repo: pytest.fail("asked the hub while offline"))
    with pytest.raises(ModelError, match=r"HF_HUB_OFFLINE=1.*hf download"):
        loader.check_available(spec)


def test_hub_unreachable_answers_in_seconds_without_retries():
    from vrft.models.loader import hub_unreachable

    start = time.monotonic()
    why = hub_unreachable("Qwen/Qwen2-VL-2B-Instruct", timeout=3, endpoint="http://127.0.0.1:9")
    assert why is not None and "cannot be reached" in why
    assert time.monotonic() - start < 20


def _cpu_trainer():
    from vrft.config import TrainerCfg

    return TrainerCfg(accelerator="cpu")


def test_a_real_size_model_on_a_cpu_is_warned_about(caplog):
    import torch

    from vrft.runtime.backends import warn_if_large_on_cpu

    model = torch.nn.Linear(10, 10)  # 110 parameters, "real size" with a threshold of 100
    with caplog.at_level("WARNING", logger="vrft.runtime.backends"):
        warn_if_large_on_cpu(model, _cpu_trainer(), "qwen2_vl_2b", threshold=100)
    (record,) = caplog.records
    assert "model=qwen2_vl_2b" in record.message and "trainer=gpu" in record.message
    assert "trainer.accelerator=cpu" in record.message
    caplog.clear()
    warn_if_large_on_cpu(model, _cpu_trainer(), "tiny", threshold=1000)  # small: nothing to say
    from vrft.config import TrainerCfg

    warn_if_large_on_cpu(model, TrainerCfg(accelerator="gpu"), "qwen2_vl_2b", threshold=100)  # on a GPU: fine
    assert not caplog.records


def test_the_default_threshold_separates_tiny_and_real_models():
    from vrft.runtime.backends import REAL_SIZE_PARAMS

    assert (
        10_000_000 < REAL_SIZE_PARAMS <= 800_000_000
    )  # above every tiny/synthetic model, below Qwen3.5-0.8B


def test_a_paper_preset_without_deepspeed_names_trainer_gpu(monkeypatch, tmp_path):
    from vrft.errors import ConfigError
    from vrft.runtime import backends

    monkeypatch.setattr(backends, "has_package", lambda name: name != "deepspeed")
    cfg = compose_run(["experiment=paper_coco_fewshot_2b"], tmp_path, tmp_path / "cache")
    with pytest.raises(ConfigError) as err:
        backends.check_run_backends(cfg)
    line = str(err.value)
    assert "\n" not in line and "trainer.strategy=deepspeed_stage_3" in line
    assert "pip install deepspeed" in line and "trainer=gpu" in line


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("deepspeed") is not None, reason="deepspeed is installed here"
)
def test_a_paper_preset_without_deepspeed_is_one_line_from_the_command_line(tmp_path):
    proc = vrft("experiment=paper_coco_fewshot_2b", f"hydra.run.dir={tmp_path / 'run'}", "logger=none")
    line = one_error_line(proc)
    assert "pip install deepspeed" in line and "trainer=gpu" in line
