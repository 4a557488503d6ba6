"""A run's model files get the mode the umask allows (safetensors alone would create them 0600), and torch.compile's
caches go under `paths.cache_dir`, not $TMPDIR."""

from __future__ import annotations

import os
import stat

import torch

from tests.test_disk_full import Processor, tiny_hf_model


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_checkpoint_and_final_model_files_follow_the_umask(tmp_path):
    from vrft.checkpointing.disk import save_final
    from vrft.checkpointing.state import save_policy

    old = os.umask(0o022)
    try:
        save_policy(torch.nn.Linear(2, 2), tmp_path / "policy.safetensors")
        save_final(tiny_hf_model(), Processor(), tmp_path / "final_model", "")
    finally:
        os.umask(old)
    assert mode(tmp_path / "policy.safetensors") == 0o644
    assert mode(tmp_path / "final_model" / "model.safetensors") == 0o644


def test_torch_compile_caches_go_under_the_cache_dir(tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    from vrft.runtime.run_folder import keep_caches_inside

    for key in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "MPLCONFIGDIR"):
        monkeypatch.delenv(key, raising=False)
    keep_caches_inside(OmegaConf.create({"paths": {"cache_dir": str(tmp_path)}}))
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "torch_compile" / "inductor")
    assert os.environ["TRITON_CACHE_DIR"] == str(tmp_path / "torch_compile" / "triton")
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    assert cache_dir() == str(tmp_path / "torch_compile" / "inductor")
