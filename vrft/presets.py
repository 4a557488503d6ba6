"""Preset names on the command line (`experiment=NAME`, `sweep=NAME`, `ablation=NAME`) checked before Hydra
composes.

Hydra's `optional` defaults (conf/config.yaml) skip a preset that does not exist, so a typo such as
`experiment=smokee` would silently run the default experiment. `unknown_preset(argv)` finds the first named
preset that has no file under experiments/, sweeps/ or conf/ablation/ and returns one line naming it and the
valid names. A user's own presets count too: `--config-dir DIR` (or `-cd DIR`) adds `DIR/experiment/`,
`DIR/sweep/` and `DIR/ablation/`, as Hydra searches them; with `hydra.searchpath=...` on the command line the
check is left to Hydra. Left out: presets given through a config file (Hydra reports those itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vrft.paths import CONF_DIR, EXPERIMENTS_DIR, SWEEPS_DIR

GROUPS = {"experiment": EXPERIMENTS_DIR, "sweep": SWEEPS_DIR, "ablation": CONF_DIR / "ablation"}


def preset_names(folder: Path) -> list[str]:
    """The presets a folder holds (its `*.yaml` files, without the suffix), sorted."""
    return sorted(p.stem for p in folder.glob("*.yaml"))


def override_values(arg: str, group: str) -> list[str] | None:
    """The preset names `arg` selects for `group` (`experiment=a`, `+experiment=a`, `sweep=a,b`), or None."""
    key, sep, value = arg.lstrip("+~").partition("=")
    if not sep or key != group or not value or value == "null":
        return None
    if value.startswith("choice(") and value.endswith(")"):
        value = value[len("choice(") : -1]
    return [v.strip() for v in value.split(",") if v.strip()]


def config_dirs(argv: Sequence[str]) -> list[Path]:
    """The folders `--config-dir DIR`, `--config-dir=DIR` or `-cd DIR` in `argv` name."""
    dirs = []
    for i, arg in enumerate(argv):
        if arg.startswith("--config-dir="):
            dirs.append(Path(arg.partition("=")[2]))
        elif arg in ("--config-dir", "-cd") and i + 1 < len(argv):
            dirs.append(Path(argv[i + 1]))
    return dirs


def unknown_preset(argv: Sequence[str]) -> str | None:
    """One line naming the first unknown preset in `argv` and listing the valid ones; None if all exist."""
    if any(a.lstrip("+").startswith("hydra.searchpath") for a in argv):
        return None
    extra = config_dirs(argv)
    for arg in argv:
        for group, folder in GROUPS.items():
            valid = sorted({*preset_names(folder), *(n for d in extra for n in preset_names(d / group))})
            for name in override_values(arg, group) or ():
                if name not in valid:
                    return f"unknown {group} '{name}' (from {folder.name}/): choose one of {', '.join(valid)}"
    return None
