"""What a training checkpoint holds, and how each part is written and read back.

    policy.safetensors  the policy's weights (all of them), or only the LoRA adapter of a peft model
    optimizer.pt        the optimizer's state_dict
    scheduler.pt        the LR scheduler's state_dict
    state.pt            counters (global step = data-stream position, skipped steps) and RNG states
                        (Python, NumPy, torch CPU, and CUDA when present)

Tensors go through safetensors; the rest through `torch.save` as tensors and plain types only, so every file
loads with `torch.load(weights_only=True)` (no pickled code is ever run). The frozen reference model is not
stored: it is rebuilt from the model folder (or is the policy with its adapter disabled). Left out: per-rank RNG
states of multi-process runs (rank 0's are stored), and optimizer states sharded by FSDP or DeepSpeed.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vrft.errors import CheckpointError

POLICY = "policy.safetensors"
OPTIMIZER = "optimizer.pt"
SCHEDULER = "scheduler.pt"
STATE = "state.pt"


@dataclass
class Counters:
    global_step: int  # optimizer steps done; also the training stream's position (one batch per step)
    skipped_steps: int = 0
    consecutive_skips: int = 0


def is_peft(policy: torch.nn.Module) -> bool:
    return hasattr(policy, "peft_config")


def save_policy(policy: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file, save_model

    if is_peft(policy):
        from peft import get_peft_model_state_dict

        save_file(
            {k: v.detach().contiguous() for k, v in get_peft_model_state_dict(policy).items()}, str(path)
        )
    else:
        save_model(policy, str(path))  # drops tied duplicates (e.g. lm_head tied to the embeddings)
    usual_mode(path)


def usual_mode(path: Path) -> None:
    """Give a file the mode the umask allows (safetensors creates its files 0600, unlike every other writer)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def load_policy(policy: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import load_file, load_model

    try:
        if is_peft(policy):
            from peft import set_peft_model_state_dict

            result = set_peft_model_state_dict(policy, load_file(str(path)))
            adapter = [k for k in result.missing_keys if "lora_" in k]
            if adapter or result.unexpected_keys:
                raise RuntimeError(f"missing {adapter[:3]}, unexpected {list(result.unexpected_keys)[:3]}")
        else:
            load_model(policy, str(path), strict=True)
    except Exception as err:  # safetensors raises its own SafetensorError for a damaged file
        raise CheckpointError(
            f"{path}: cannot be loaded into the policy (another model or LoRA setting, or a damaged file): "
            f"{first_line(err)}"
        ) from None


def first_line(err: BaseException) -> str:
    """The first line of an error's message, or its type when the message is empty (a zero-byte file's EOFError)."""
    lines = str(err).splitlines()
    return lines[0] if lines and lines[0].strip() else type(err).__name__


def rng_state() -> dict:
    """Every global generator a run draws from, as tensors and plain types."""
    _, key, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "numpy": {
            "key": torch.from_numpy(key.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    py, npy = state["python"], state["numpy"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    np.random.set_state(
        ("MT19937", npy["key"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["gauss"])
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def writers(policy, optimizer, scheduler, counters: Counters) -> dict:
    """File name -> function writing it; the RNG states are taken now, at the step boundary."""
    state = {"counters": asdict(counters), "rng": rng_state()}
    return {
        POLICY: lambda p: save_policy(policy, p),
        OPTIMIZER: lambda p: torch.save(optimizer.state_dict(), p),
        SCHEDULER: lambda p: torch.save(scheduler.state_dict(), p),
        STATE: lambda p: torch.save(state, p),
    }


def load_file(path: Path):
    """One `torch.save`d file of a checkpoint, read with weights_only=True; errors name the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing from the checkpoint") from None
    except Exception as err:  # unpickling errors of a damaged or foreign file come in many types
        raise CheckpointError(f"{path}: cannot be read ({first_line(err)})") from None


def restore(folder: Path, policy, optimizer, scheduler) -> Counters:
    """Load weights, optimizer, scheduler and RNG states from `folder`; return the counters."""
    folder = Path(folder)
    if not (folder / POLICY).is_file():
        raise CheckpointError(f"{folder / POLICY}: missing from the checkpoint")
    load_policy(policy, folder / POLICY)
    try:
        optimizer.load_state_dict(load_file(folder / OPTIMIZER))
        scheduler.load_state_dict(load_file(folder / SCHEDULER))
    except (ValueError, KeyError) as err:
        raise CheckpointError(f"{folder}: optimizer state does not fit this run ({err})") from None
    state = load_file(folder / STATE)
    set_rng_state(state["rng"])
    return Counters(**state["counters"])
