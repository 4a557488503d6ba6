"""Preset names on the command line (`experiment=NAME`, `sweep=NAME`) checked before Hydra composes.

Hydra's `optional` defaults (conf/config.yaml) skip a preset that does not exist, so a typo such as
`experiment=smokee` would silently run the default experiment. `unknown_preset(argv)` finds the first named
preset that has no file under experiments/ or sweeps/ and returns one line naming it and the valid names.
Left out: presets given through a config file (Hydra reports those itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vrft.paths import EXPERIMENTS_DIR, SWEEPS_DIR

GROUPS = {"experiment": EXPERIMENTS_DIR, "sweep": SWEEPS_DIR}


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


def unknown_preset(argv: Sequence[str]) -> str | None:
    """One line naming the first unknown preset in `argv` and listing the valid ones; None if all exist."""
    for arg in argv:
        for group, folder in GROUPS.items():
            valid = preset_names(folder)
            for name in override_values(arg, group) or ():
                if name not in valid:
                    return f"unknown {group} '{name}' (from {folder.name}/): choose one of {', '.join(valid)}"
    return None
