"""From a task config to training and held-out rows: read the source format, sample shots, check images, build rows.

Training queries are the ground-truth (image, category) pairs of the sampled shots, as the released few-shot sets
(one positive query per row), or with `task.train_query: all` every category asked of each shot image (absent ones
answer "No Objects", as the held-out protocol `query: all` asks them); held-out queries follow the task's query
protocol (gt, all, or an existence map).
Synthetic tasks are first written to disk in the real format (`vrft.synthetic`) and then read by the same readers.
Left out: mixing several tasks in one run.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vrft.config import SplitCfg, TaskCfg
from vrft.data.classification import read_classification
from vrft.data.coco import read_detection
from vrft.data.fewshot import queries_of_shot_images, sample_shots
from vrft.data.images import filter_readable
from vrft.data.reasonseg import read_reasonseg
from vrft.data.rows import to_row
from vrft.data.virft_hf import read_virft
from vrft.errors import ConfigError, DataError
from vrft.registry import Registry

log = logging.getLogger(__name__)


@dataclass
class TaskData:
    train_rows: list[dict]
    test_rows: list[dict]
    gt_json: Path | None  # held-out detection annotations (COCO or LVIS JSON), for mAP
    lvis: bool
    eval_categories: list[str] | None
    skipped: int


TRAIN_QUERIES = (
    "gt",
    "all",
)  # task.train_query: the shots' own queries, or every category of each shot image
READERS = Registry("reader")  # task.<split>.reader -> fn(split, task, train, skip_bad) -> records


def _detection(split: SplitCfg, task: TaskCfg, train: bool, skip_bad: bool):
    cats = task.categories if train else (task.eval_categories or task.categories)
    query = task.train_query if train else task.query
    return read_detection(
        split.path,
        split.images or "",
        cats,
        query=query,
        exist_map=task.exist_map,
        kind=split.reader,
        skip_bad=skip_bad,
    )


def _classification(split: SplitCfg, task: TaskCfg, train: bool, skip_bad: bool):
    return read_classification(split.path, split.reader, split.split, split.images, skip_bad)


def _reasonseg(split: SplitCfg, task: TaskCfg, train: bool, skip_bad: bool):
    mode = "all" if split.split == "all_sentences" else "first"
    return read_reasonseg(split.path, mode, skip_bad=skip_bad)


def _virft(split: SplitCfg, task: TaskCfg, train: bool, skip_bad: bool):
    return read_virft(split.path, split.split, skip_bad=skip_bad)


for _name, _fn in (
    ("coco", _detection),
    ("lvis", _detection),
    ("coop_split", _classification),
    ("fgvc_aircraft", _classification),
    ("reasonseg", _reasonseg),
    ("virft", _virft),
):
    READERS.register(_name)(_fn)


def read_records(split: SplitCfg, task: TaskCfg, *, train: bool, skip_bad: bool):
    """The records (or, for released Visual-RFT datasets, ready rows) of one split, by its `reader`."""
    if split.path is None:
        raise ConfigError(f"task.{'train' if train else 'test'}.path is not set for task {task.name}")
    if split.reader not in READERS:
        raise ConfigError(f"task.{'train' if train else 'test'}.reader={split.reader!r} is not supported")
    return READERS[split.reader](split, task, train, skip_bad)


def build_rows(records: list[Any], task: TaskCfg, codec, think: str = "on") -> list[dict]:
    """Model-facing rows; released rows (dicts) are kept as they are, so a release whose prompts ask for
    `<think>` before `<answer>` (the paper's) refuses any other `think` layout (its first row is read)."""
    if think != "on" and records and isinstance(records[0], dict) and "<think>" in records[0]["problem"]:
        raise ConfigError(
            f"prompt.think={think!r}: task {task.name} reads released rows (reader virft) whose prompts ask for "
            "<think> before <answer>; use prompt.think=on or a task read from annotations"
        )
    return [
        r if isinstance(r, dict) else to_row(r, task.prompt, codec, task.prompt_fields, think)
        for r in records
    ]


def cap_by_image(records: list[Any], max_samples: int | None, seed: int) -> list[Any]:
    """At most ~max_samples queries, taking whole images (every query of a kept image), chosen by seed."""
    if max_samples is None or len(records) <= max_samples:
        return records
    ids = sorted({str(getattr(r, "image_id", i)) for i, r in enumerate(records)})
    random.Random(seed).shuffle(ids)
    by_id: dict[str, list[Any]] = {}
    for i, r in enumerate(records):
        by_id.setdefault(str(getattr(r, "image_id", i)), []).append(r)
    out: list[Any] = []
    for i in ids:
        if len(out) >= max_samples:
            break
        out.extend(by_id[i])
    return out


def training_records(records: list[Any], task: TaskCfg, seed: int) -> list[Any]:
    """The shots drawn by seed (all records when `shots` is null), widened to every query of their images with
    `train_query: all` (absent ones thinned to `train_negatives` per positive when set)."""
    if records and isinstance(records[0], dict):  # released rows: used as they are
        return records
    try:
        shots = records if task.shots is None else sample_shots(records, task.shots, seed)
        if task.train_query == "all":
            positives = [r for r in shots if getattr(r, "boxes", None)]
            return queries_of_shot_images(records, positives, task.train_negatives, seed)
        return shots
    except DataError as err:  # name the split file and the keys, as every other data error does
        raise DataError(
            f"{task.train.path}: {err} (task.shots={task.shots}, task.categories={task.categories})"
        ) from None


@dataclass
class TaskRecords:
    """A task's records read and checked, before any model exists (rows need the model's box codec)."""

    train: list[Any]
    test: list[Any]
    skipped: int


def read_task(task: TaskCfg, *, seed: int, skip_bad: bool, max_test: int | None) -> TaskRecords:
    """Read both splits, sample the shots and check the images: every data error of a run is raised here, in the
    time it takes to read the annotations, so a run can check its data before it loads or builds a model."""
    train = training_records(read_records(task.train, task, train=True, skip_bad=skip_bad), task, seed)
    test = cap_by_image(read_records(task.test, task, train=False, skip_bad=skip_bad), max_test, seed)
    train, skipped_train = filter_readable(train, skip_bad)
    test, skipped_test = filter_readable(test, skip_bad)
    if not train:
        raise DataError(f"task {task.name}: the training split is empty after sampling ({task.train.path})")
    if not test:
        raise DataError(f"task {task.name}: the held-out split is empty ({task.test.path})")
    return TaskRecords(train, test, skipped_train + skipped_test)


def task_data(task: TaskCfg, records: TaskRecords, codec, think: str = "on") -> TaskData:
    """The training and held-out rows of `records` (prompts and answers in `codec`'s coordinates, prompts in the
    `think` layout of `prompt.think`)."""
    gt_json = Path(task.test.path) if task.test.reader in ("coco", "lvis") else None
    log.info(
        "task %s: %d training rows, %d held-out queries", task.name, len(records.train), len(records.test)
    )
    return TaskData(
        build_rows(records.train, task, codec, think),
        build_rows(records.test, task, codec, think),
        gt_json,
        task.test.reader == "lvis",
        task.eval_categories or task.categories,
        records.skipped,
    )


def build_task_data(
    task: TaskCfg, codec, *, seed: int, skip_bad: bool, max_test: int | None, think: str = "on"
) -> TaskData:
    """`read_task` then `task_data`."""
    return task_data(task, read_task(task, seed=seed, skip_bad=skip_bad, max_test=max_test), codec, think)
