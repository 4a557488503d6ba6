"""Can this machine run the configured trainer? One check before Lightning starts, one clear line when it cannot.

`check_trainer_backend(trainer_cfg)` refuses: a GPU accelerator (trainer=gpu, ddp, fsdp, deepspeed) where no CUDA
device is visible, a DeepSpeed strategy where the deepspeed package is missing or the accelerator is not a GPU,
and fp16 precision on a CPU. `build_trainer` calls it first, so a run fails at start with a `ConfigError` naming
the key, instead of a stack trace from deep inside Lightning after the model has loaded. `warn_if_large_on_cpu`
warns, naming `trainer=gpu`, when a model of real size (a released checkpoint, not a tiny or synthetic one) is to
train on a CPU. Left out: what Lightning checks clearly itself (device and node counts, strategy names), multi-node
launch environments.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable

from vrft.config import TrainerCfg
from vrft.errors import ConfigError

log = logging.getLogger(__name__)

GPU_ACCELERATORS = ("gpu", "cuda")
# Above every tiny and synthetic model (at most a few million parameters), below the smallest released one the
# configs name (Qwen3.5-0.8B): a model this large takes minutes a GRPO step on a CPU.
REAL_SIZE_PARAMS = 100_000_000
CPU_HINT = (
    "use trainer=cpu here (or trainer=ddp trainer.accelerator=cpu trainer.devices=2 for 2 CPU processes)"
)


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def has_package(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def check_trainer_backend(
    t: TrainerCfg,
    *,
    cuda: Callable[[], bool] = cuda_available,
    package: Callable[[str], bool] = has_package,
) -> None:
    """Raise ConfigError when `t` cannot run on this machine; `cuda` and `package` are the probes (tests swap them)."""
    strategy = str(t.strategy)
    gpu = str(t.accelerator) in GPU_ACCELERATORS
    if strategy.startswith("deepspeed"):
        if not package("deepspeed"):
            raise ConfigError(
                f"trainer.strategy={strategy} (trainer=deepspeed, as the paper presets choose) needs the deepspeed "
                "package, which is not installed: pip install deepspeed (on a CUDA machine), or add trainer=gpu for "
                "one GPU (trainer=ddp or trainer=fsdp for several)"
            )
        if not gpu:
            raise ConfigError(
                f"trainer.strategy={strategy} runs on GPUs only, but trainer.accelerator={t.accelerator}; "
                "set trainer.accelerator=gpu"
            )
    if gpu and not cuda():
        raise ConfigError(
            f"trainer.accelerator={t.accelerator} (strategy {strategy}) but no CUDA GPU is visible on this machine "
            f"(torch.cuda.is_available() is False); {CPU_HINT}"
        )
    if str(t.precision).startswith("16") and not gpu:
        raise ConfigError(
            f"trainer.precision={t.precision} (fp16) needs a GPU; on a CPU use 32-true or bf16-mixed"
        )


def check_run_backends(run) -> None:
    """Every backend a run config names (trainer, rollout engine), checked before anything loads."""
    check_trainer_backend(run.trainer)
    if run.rollout.engine == "vllm" and run.algo.kind == "grpo":
        from vrft.rollout.vllm import require_vllm

        require_vllm()


def warn_if_large_on_cpu(model, t: TrainerCfg, name: str, threshold: int = REAL_SIZE_PARAMS) -> None:
    """Log a warning naming `trainer=gpu` when `model` has `threshold` parameters or more and `t` trains on a CPU."""
    if str(t.accelerator) in GPU_ACCELERATORS:
        return
    count = sum(p.numel() for p in model.parameters())
    if count >= threshold:
        log.warning(
            "model=%s has %.2f B parameters and trains on trainer.accelerator=%s: a step takes minutes on a CPU; "
            "on a GPU machine pass trainer=gpu (trainer=ddp, fsdp or deepspeed for several GPUs)",
            name,
            count / 1e9,
            t.accelerator,
        )
