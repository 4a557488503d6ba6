"""Where vrft finds its config tree and presets, independent of the working directory.

`ROOT` is the checkout (the folder holding `conf/`, `experiments/`, `sweeps/`); the OmegaConf resolver
`${vrft_root:}` exposes it to YAML. Left out: installs without the checkout (a wheel); vrft runs from a clone.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"
EXPERIMENTS_DIR = ROOT / "experiments"
SWEEPS_DIR = ROOT / "sweeps"


def register_resolvers() -> None:
    """Register `${vrft_root:}` once (idempotent)."""
    if not OmegaConf.has_resolver("vrft_root"):
        OmegaConf.register_new_resolver("vrft_root", lambda: str(ROOT))
