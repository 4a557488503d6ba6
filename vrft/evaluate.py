"""`python -m vrft.evaluate task=NAME model.path=CHECKPOINT [overrides]`: evaluate a checkpoint on a task's
held-out split with the task's metric (accuracy, COCO/LVIS mAP, grounding mIoU), no training.

Composes the same config as `python -m vrft` (so prompts, codec and query protocol are the training ones) and
writes `eval/metrics_eval.json`, `eval/predictions_eval.json` (and COCO-format detections) into the run folder.
A trained run's `final_model/` is a valid `model.path`. Left out: sharding over several GPUs.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from vrft.errors import VrftError
from vrft.paths import CONF_DIR
from vrft.runtime.cpu_isa import pin_cpu_isa

log = logging.getLogger("vrft")


def evaluate(cfg) -> dict:
    from vrft.assemble import assemble
    from vrft.logging.console import quiet_console

    quiet_console()  # Lightning and transformers are loaded now
    out = Path(cfg.paths.output_dir)
    parts = assemble(cfg)
    task, data = parts.task, parts.data
    metrics = parts.evaluator(parts.policy, "eval")
    result = {
        "task": task.name,
        "model": cfg.model.path or cfg.model.name,
        "metric": task.metric,
        "value": float(metrics[task.metric]),
        "queries": len(data.test_rows),
    }
    (out / "evaluation.json").write_text(json.dumps({**result, "metrics": metrics}, indent=1, default=str))
    print(json.dumps(result))
    return result


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    from vrft.config import load_config, load_runtime
    from vrft.logging.console import quiet_console

    quiet_console()  # every line once (again in evaluate(), once Lightning and transformers are loaded)
    try:
        pin_cpu_isa(load_runtime(cfg).cpu_isa)  # before anything imports torch
        run_cfg = load_config(cfg)
        evaluate(run_cfg)
    except VrftError as err:
        log.error("%s", err, extra={"console": False})  # the log file; the console gets the line below
        print(f"vrft.evaluate: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
