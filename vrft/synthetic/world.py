"""Where a synthetic world lives on disk and how a synthetic task finds its files.

A world is the folder `cache_dir/worlds/<kind>-<hash of the WorldSpec>/`; each split in it is written on first
use into its own sub-folder (a temporary folder renamed into place, so a crash or a concurrent writer never
leaves a half-written split), and `spec.json` records the recipe. `world_task(task, cache_dir)` reads the task's
`synthetic:` block, makes sure the splits the task names exist, and returns the task with real paths filled in,
so the real readers (COCO JSON, CoOp split files, ReasonSeg folders, ViRFT rows) load them.

In a synthetic task, `train.path` / `test.path` name a world split instead of a file: for `reader: coco` a
detection split (`base_train`, `base_test`, `novel_train`, `novel_test`); for `reader: virft` the SFT rows of
`base_train`; for `reader: coop_split` the class group (`base`, `novel` or `all`, then `split:` train/val/test); for
`reader: reasonseg` a grounding split. The block's task-level keys are not part of the world: `categories:
novel|base|all` fills `task.categories` (and `task.eval_categories`, unless the block's `eval_categories` says
otherwise) when they are null; `gate` is the base model's quality threshold (`vrft.synthetic.base`). Left out: deleting old worlds.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from vrft.config import SplitCfg, TaskCfg
from vrft.errors import ConfigError
from vrft.paths import ensure
from vrft.synthetic.spec import WorldSpec, world_spec

DEFAULT_SPLITS = {
    "detection": {"base_train": 6000, "base_test": 200, "novel_train": 240, "novel_test": 120},
    "classification": {
        "base_train": 300,
        "base_val": 10,
        "base_test": 20,
        "all_train": 32,
        "all_val": 10,
        "all_test": 40,
    },
    "grounding": {"base_train": 6000, "base_test": 200, "novel_train": 240, "novel_test": 150},
}
# keys of the synthetic block that describe the task, not the world
TASK_KEYS = ("categories", "eval_categories", "gate")


def spec_of(block: dict | None) -> tuple[WorldSpec, dict]:
    """(the world recipe, the task-level keys) of a task's `synthetic:` block, with default split sizes."""
    block = dict(block or {})
    task_keys = {k: block.pop(k) for k in TASK_KEYS if k in block}
    kind = block.get("kind", "detection")
    block["splits"] = {**DEFAULT_SPLITS.get(kind, {}), **dict(block.get("splits") or {})}
    return world_spec(block), task_keys


def world_dir(spec: WorldSpec, cache_dir: Path) -> Path:
    return Path(cache_dir) / "worlds" / f"{spec.kind}-{spec.short_hash()}"


def _record_spec(spec: WorldSpec, world: Path) -> None:
    def write(tmp: Path) -> None:
        (tmp / "spec.json").write_text(json.dumps(dataclasses.asdict(spec), indent=1) + "\n")

    ensure(world / "recipe", write)


def _need_split(spec: WorldSpec, name: str) -> None:
    if name not in spec.splits:
        raise ConfigError(
            f"synthetic split {name!r} is not in this {spec.kind} world (splits: {', '.join(spec.splits)})"
        )


def resolve_split(spec: WorldSpec, world: Path, split: SplitCfg, prompt: str) -> SplitCfg:
    """The real SplitCfg of a split that names a world split (see the module docstring)."""
    from vrft.synthetic import classification, detection, grounding

    name = split.path or ""
    if split.reader == "coco":
        _need_split(spec, name)
        root = ensure(world / name, lambda tmp: detection.write_coco_split(spec, name, tmp))
        return SplitCfg("coco", str(root / "annotations" / f"instances_{name}.json"), str(root / name), name)
    if split.reader == "virft":
        coco = resolve_split(spec, world, SplitCfg("coco", "base_train"), prompt)
        root = ensure(
            world / f"sft-{prompt}",
            lambda tmp: detection.write_sft_rows(spec, Path(coco.path), Path(coco.images), tmp, prompt),
        )
        return SplitCfg("virft", str(root), None, "train")
    if split.reader == "coop_split":
        if name not in ("base", "novel", "all"):
            raise ConfigError(
                f"a synthetic classification path must be 'base', 'novel' or 'all', got {name!r}"
            )
        root = ensure(world / f"cls_{name}", lambda tmp: classification.write_class_group(spec, name, tmp))
        return SplitCfg("coop_split", str(root), None, split.split)
    if split.reader == "reasonseg":
        _need_split(spec, name)
        root = ensure(world / name, lambda tmp: grounding.write_grounding_split(spec, name, tmp))
        return SplitCfg("reasonseg", str(root), None, split.split)
    raise ConfigError(
        f"synthetic tasks read coco, virft, coop_split or reasonseg splits, not {split.reader!r}"
    )


def task_categories(spec: WorldSpec, which: str | None) -> list[str] | None:
    choices = {"novel": list(spec.novel), "base": spec.base, "all": spec.categories, None: None}
    if which not in choices:
        raise ConfigError(f"task.synthetic.categories={which!r} is invalid: one of novel, base, all")
    return choices[which]


def world_task(task: TaskCfg, cache_dir: Path) -> TaskCfg:
    """The task with its world's split paths (and categories, when null) filled in; splits written on first use."""
    spec, task_keys = spec_of(task.synthetic)
    world = world_dir(spec, cache_dir)
    _record_spec(spec, world)
    cats = task_categories(spec, task_keys.get("categories"))
    eval_cats = task_categories(spec, task_keys.get("eval_categories", task_keys.get("categories")))
    return dataclasses.replace(
        task,
        train=resolve_split(spec, world, task.train, task.prompt),
        test=resolve_split(spec, world, task.test, task.prompt),
        categories=task.categories if task.categories is not None else cats,
        eval_categories=task.eval_categories if task.eval_categories is not None else eval_cats,
    )
