"""Shared test set-up: offline, no W&B writes into $HOME, a shared cache for built tiny models and worlds, and a
helper that composes a run config the way `python -m vrft` does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
TEST_CACHE = Path(os.environ.get("VRFT_TEST_CACHE", ROOT / ".cache" / "tests"))


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """Built tiny models and synthetic worlds, shared by every test of a session (and across sessions)."""
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    return TEST_CACHE


def compose_run(overrides: list[str], output_dir: Path, cache: Path):
    """The validated RunCfg for these overrides, as the entry point builds it (without Hydra's job machinery)."""
    from hydra import compose, initialize_config_dir

    from vrft.config import load_config
    from vrft.paths import CONF_DIR

    base = [f"paths.output_dir={output_dir}", f"paths.cache_dir={cache}"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=base + overrides)
    return load_config(cfg)


def _length_reward(completions, **kwargs):
    """A dense test reward (varies even for a random policy), so every step has a policy gradient."""
    from vrft.rewards.parse import completion_text

    return [len(completion_text(c)) / 100.0 for c in completions]


def register_test_reward() -> str:
    """Register the `test_length` reward in every reward set (idempotent); returns the override that adds it to a
    run's reward set."""
    from vrft.rewards import REWARD_SETS

    for rewards in REWARD_SETS.values():
        if "test_length" not in rewards:
            rewards.register("test_length")(_length_reward)
    return "+reward.functions.test_length.weight=1.0"
