"""The synthetic world's base model: built on first use by its SFT experiment, through the normal entry point,
checked by a quality gate, and cached by recipe.

A model config whose `path` is `synthetic:<experiment>` names the model that `python -m vrft
experiment=<experiment>` trains (its `final_model/`); `with_base_model(cfg)`, a step of vrft.assemble, puts that
folder in its place. `base_model_path(cfg)` composes that experiment with the
caller's world settings, cache folder and `prompt.think` (`base_overrides`), hashes the recipe (task with its world, model, algo, reward, trainer
steps and precision, seed) and returns `<cache_dir>/bases/<experiment>-<hash>/final_model`. When that folder is
missing, the experiment runs in a child process (its own run folder, log and logger run), its held-out
predictions must pass the task's gate (`synthetic.gate`: the mean accuracy reward on held-out base queries,
`vrft.synthetic.gate`), and only then is the run folder renamed into place with `gate.json`, `recipe.json` and
`build.json` (command and wall time) beside the model. A failed gate keeps the folder as `<name>-<hash>.failed`
and raises a `ModelError`. Left out: downloading or shipping prebuilt checkpoints.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from vrft.config import RunCfg
from vrft.errors import ConfigError, ModelError
from vrft.models.spec import SYNTHETIC_PREFIX
from vrft.synthetic.gate import check_gate
from vrft.synthetic.spec import LATER_DEFAULTS
from vrft.synthetic.world import TASK_KEYS

log = logging.getLogger(__name__)

PREFIX = SYNTHETIC_PREFIX
RECIPE_VERSION = 1
DEFAULT_GATE = 0.5


def _value(v: Any) -> str:
    """A value in Hydra's override grammar (strings quoted, lists bracketed)."""
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(x) for x in v) + "]"
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return json.dumps(v)


def world_overrides(synthetic: dict | None) -> list[str]:
    """Overrides that give the base experiment the caller's world: its drawing recipe, not its split sizes (the
    base experiment sizes its own base splits) nor the task-level keys."""
    skip = (*TASK_KEYS, "splits")
    return [f"task.synthetic.{k}={_value(v)}" for k, v in sorted((synthetic or {}).items()) if k not in skip]


def compose_recipe(experiment: str, overrides: list[str]) -> RunCfg:
    """The validated RunCfg of `experiment=<experiment>` plus overrides, composed as the entry point does."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    from vrft.config import load_config
    from vrft.paths import CONF_DIR, register_resolvers

    register_resolvers()
    full = [f"experiment={experiment}", "paths.output_dir=unused", *overrides]
    try:
        if GlobalHydra.instance().is_initialized():
            cfg = compose("config", overrides=full)
        else:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                cfg = compose("config", overrides=full)
    except HydraException as err:
        raise ConfigError(
            f"model.path={PREFIX}{experiment}: cannot compose that experiment ({err})"
        ) from None
    return load_config(cfg)


def recipe(run: RunCfg) -> dict:
    """What determines the base model's weights (not paths, loggers or evaluation settings; the thread count is
    pinned by the base experiment itself)."""
    d = dataclasses.asdict(run)
    tiny = d["model"].get("tiny")
    if (
        tiny and tiny.get("tokenizer") == "bpe"
    ):  # the default, left out so that earlier recipes keep their hash
        del tiny["tokenizer"]
    world = d["task"].get("synthetic") or {}
    for key, default in LATER_DEFAULTS.items():  # likewise the world keys added later
        if world.get(key) == default:
            del world[key]
    for fn in d["reward"]["functions"].values():
        if fn.get("fn") is None:
            del fn["fn"]
    extra = (
        {"prompt": d["prompt"]} if d["prompt"] != {"think": "on"} else {}
    )  # on: earlier recipes keep their hash
    return {
        **extra,
        "version": RECIPE_VERSION,
        "task": d["task"],
        "model": d["model"],
        "algo": d["algo"],
        "reward": d["reward"],
        "trainer": {k: d["trainer"][k] for k in ("max_steps", "precision")},
        "runtime": {"cpu_isa": d["runtime"]["cpu_isa"]},
        "seed": d["seed"],
    }


def recipe_hash(rec: dict) -> str:
    return hashlib.sha256(json.dumps(rec, sort_keys=True, default=str).encode()).hexdigest()[:10]


def with_base_model(cfg: RunCfg) -> RunCfg:
    """`cfg` itself, or, where `model.path` is `synthetic:<experiment>`, `cfg` with the folder of the base model that
    experiment trains (built now when missing: see the module doc)."""
    if not (cfg.model.path or "").startswith(PREFIX):
        return cfg
    model = dataclasses.replace(cfg.model, path=str(base_model_path(cfg)))
    return dataclasses.replace(cfg, model=model)


def base_overrides(cfg: RunCfg) -> list[str]:
    """What the caller passes on to its base experiment: the cache folder, `model.base_seed`, the world, and a
    `prompt.think` other than `on` (a base SFT-trained in the caller's layout, so its answers start in the layout
    the format reward asks for)."""
    think = [f"prompt.think={cfg.prompt.think}"] if cfg.prompt.think != "on" else []
    return [
        f"paths.cache_dir={Path(cfg.paths.cache_dir)}",
        f"seed={cfg.model.base_seed}",
        *world_overrides(cfg.task.synthetic),
        *think,
    ]


def base_model_path(cfg: RunCfg) -> Path:
    """The built base model folder named by `cfg.model.path` (`synthetic:<experiment>`), built if missing."""
    experiment = cfg.model.path[len(PREFIX) :]
    cache = Path(cfg.paths.cache_dir)
    overrides = base_overrides(cfg)
    base_run = compose_recipe(experiment, overrides)
    rec = recipe(base_run)
    folder = cache / "bases" / f"{experiment}-{recipe_hash(rec)}"
    if not (folder / "final_model" / "config.json").is_file():
        build(experiment, base_run, rec, folder, overrides, cfg)
    return folder / "final_model"


def _command(experiment: str, run_dir: Path, overrides: list[str], cfg: RunCfg) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "vrft",
        f"experiment={experiment}",
        f"hydra.run.dir={run_dir}",
        *overrides,
        f"logger={cfg.logger.kind}",
    ]
    if cfg.runtime.num_threads:
        cmd.append(f"runtime.num_threads={cfg.runtime.num_threads}")
    return cmd


def build(
    experiment: str, base_run: RunCfg, rec: dict, folder: Path, overrides: list[str], cfg: RunCfg
) -> None:
    """Run the base experiment in a child process, gate it, and move its run folder to `folder`."""
    tmp = folder.with_name(f".{folder.name}.building{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = _command(experiment, tmp, overrides, cfg)
    log.info("building the base model %s (first use; cached in %s): %s", experiment, folder, " ".join(cmd))
    start = time.perf_counter()
    done = subprocess.run(cmd, check=False)
    seconds = round(time.perf_counter() - start, 1)
    if done.returncode != 0:
        raise ModelError(
            f"model.path={PREFIX}{experiment}: the base run failed (exit {done.returncode}); "
            f"see {tmp}/__main__.log"
        )
    block = base_run.task.synthetic or {}
    gate = check_gate(
        tmp / "eval" / "predictions_final.json", base_run.task.family, float(block.get("gate", DEFAULT_GATE))
    )
    (tmp / "gate.json").write_text(json.dumps(gate, indent=1) + "\n")
    (tmp / "recipe.json").write_text(json.dumps(rec, indent=1, default=str) + "\n")
    (tmp / "build.json").write_text(json.dumps({"command": cmd[1:], "seconds": seconds}, indent=1) + "\n")
    target = folder if gate["passed"] else folder.with_name(folder.name + ".failed")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    log.info(
        "base model %s: gate %s %.3f (threshold %.2f) after %.0f s",
        experiment,
        gate["reward"],
        gate["score"],
        gate["threshold"],
        seconds,
    )
    if not gate["passed"]:
        raise ModelError(
            f"model.path={PREFIX}{experiment}: the base model failed its gate "
            f"(mean {gate['reward']} reward {gate['score']:.3f} < {gate['threshold']}); "
            f"its run is in {target}; give the base experiment more steps"
        )
