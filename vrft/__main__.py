"""`python -m vrft [overrides]`: the Hydra entry point. Composes `conf/` (+ experiments/, sweeps/) and runs.

A user error (an unknown preset, a bad config value, missing data or model) ends the process with one line on
stderr and exit code 2; Ctrl-C or SIGTERM ends it with 130 or 143 after a checkpoint (vrft.runtime.signals);
everything else is `vrft.run`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from vrft.errors import VrftError
from vrft.paths import CONF_DIR
from vrft.runtime import before_torch
from vrft.runtime.signals import Interrupted

log = logging.getLogger("vrft")


def main() -> float | None:
    """The console entry point: presets named on the command line checked, then Hydra."""
    from vrft.presets import unknown_preset

    bad = unknown_preset(sys.argv[1:])
    if bad:
        print(f"vrft: error: {bad}", file=sys.stderr)
        sys.exit(2)
    return hydra_main()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    from vrft.config import load_config, load_runtime
    from vrft.logging.console import quiet_console

    quiet_console()  # every line once; no third-party tips (again in vrft.run, once Lightning is loaded)
    default_sweep_group(cfg)
    try:
        before_torch(
            load_runtime(cfg)
        )  # the CPU kernel pin and OpenMP's policy, before anything imports torch
        run_cfg = load_config(cfg)
        from vrft.run import run

        summary = run(run_cfg)
    except VrftError as err:
        log.error("%s", err, extra={"console": False})  # the log file; the console gets the line below
        print(f"vrft: error: {err}", file=sys.stderr)
        sys.exit(2)
    except Interrupted as stop:  # Ctrl-C: 130, SIGTERM: 143, as a shell reports them
        sys.exit(stop.exit_code)
    return summary.get("final")


def default_sweep_group(cfg: DictConfig) -> None:
    """In a multirun without `logger.group`, the jobs of one sweep form one W&B group named after its folder."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN and cfg.logger.get("group") is None:
        with open_dict(cfg):
            cfg.logger.group = f"sweep-{Path(hc.sweep.dir).name}"


if __name__ == "__main__":
    main()
