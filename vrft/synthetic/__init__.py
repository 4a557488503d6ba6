"""The built-in synthetic world: small procedural datasets written on first use in the real on-disk formats.

`world_task(task, cache_dir)` writes (once, into `cache_dir/worlds/<kind>-<hash>`) the world that a synthetic
task's `synthetic:` block describes and returns the task config with its split paths filled in, so the real
readers (COCO JSON, ...) load it. Left out here: worlds other than detection.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

from vrft.config import SplitCfg, TaskCfg
from vrft.data.standins import write_coco
from vrft.errors import ConfigError

DEFAULTS = {"kind": "detection", "seed": 0, "categories": ["red circle", "blue square"], "n_train": 32,
            "n_test": 24}


def world_dir(spec: dict, cache_dir: Path) -> Path:
    blob = json.dumps(spec, sort_keys=True)
    return Path(cache_dir) / "worlds" / f"{spec['kind']}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def write_world(spec: dict, folder: Path) -> None:
    """Write the world atomically (a temp folder renamed into place)."""
    if folder.exists():
        return
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    write_coco(tmp, spec["n_train"], spec["categories"], spec["seed"], split="train")
    write_coco(tmp, spec["n_test"], spec["categories"], spec["seed"] + 1, split="test")
    tmp.rename(folder)


def world_task(task: TaskCfg, cache_dir: Path) -> TaskCfg:
    spec = {**DEFAULTS, **(task.synthetic or {})}
    if spec["kind"] != "detection":
        raise ConfigError(f"task.synthetic.kind={spec['kind']!r}: only 'detection' worlds exist")
    spec.pop("split", None)
    folder = world_dir(spec, cache_dir)
    write_world(spec, folder)

    def split(name: str) -> SplitCfg:
        return SplitCfg(reader="coco", path=str(folder / "annotations" / f"instances_{name}.json"),
                        images=str(folder / name), split=name)

    return dataclasses.replace(task, train=split("train"), test=split("test"))
