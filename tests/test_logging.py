"""vrft.logging: the W&B mode rule, metrics.jsonl, CSV, box drawing and sample tables, and one offline W&B run
end to end (written under the run folder, tagged and grouped, closed with the failure code, never leaked)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vrft.config import LoggerCfg
from vrft.logging import JsonlLogger, build_loggers, finish_loggers, log_samples, log_summary, run_tags
from vrft.logging.samples import GT_COLOR, PRED_COLOR, draw_boxes, table_columns, table_data
from vrft.logging.wandb_env import DIR_VARS, resolve_mode

NETRC_WANDB = "machine api.wandb.ai\n  login user\n  password 0123456789abcdef\n"
NETRC_OTHER = "machine example.com\n  login user\n  password secret\n"
NETRC_SELF_HOSTED = "machine wandb.example.org\n  login user\n  password 0123456789abcdef\n"


@pytest.mark.parametrize(
    ("mode", "env", "netrc_text", "expected"),
    [
        ("auto", {}, None, "offline"),
        ("auto", {"WANDB_API_KEY": "k" * 40}, None, "online"),
        ("auto", {}, NETRC_WANDB, "online"),
        ("auto", {}, NETRC_OTHER, "offline"),
        ("auto", {}, "machine api.wandb.ai login", "offline"),  # no password
        ("auto", {}, "machine {{ broken", "offline"),
        ("auto", {"WANDB_BASE_URL": "https://wandb.example.org"}, NETRC_SELF_HOSTED, "online"),
        ("auto", {"WANDB_BASE_URL": "https://wandb.example.org"}, NETRC_WANDB, "offline"),
        ("auto", {"WANDB_API_KEY": "k" * 40, "WANDB_MODE": "offline"}, None, "offline"),
        ("auto", {"WANDB_MODE": "disabled"}, NETRC_WANDB, "disabled"),
        ("offline", {"WANDB_API_KEY": "k" * 40}, NETRC_WANDB, "offline"),
        ("online", {}, None, "online"),
        ("disabled", {"WANDB_API_KEY": "k" * 40}, None, "disabled"),
    ],
)
def test_resolve_mode(tmp_path, mode, env, netrc_text, expected):
    netrc_path = tmp_path / "netrc"
    if netrc_text is not None:
        netrc_path.write_text(netrc_text)
    assert resolve_mode(mode, env=env, netrc_path=netrc_path) == expected


def test_resolve_mode_refuses_unknown():
    with pytest.raises(ValueError, match="logger.mode"):
        resolve_mode("sometimes", env={})


def test_jsonl_logger_writes_flushed_lines(tmp_path):
    lg = JsonlLogger(tmp_path)
    lg.log_metrics({"train/reward": torch.tensor(0.25), "train/loss": np.float32(1.5), "n": 3}, step=1)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()  # readable before the logger is closed
    assert [json.loads(x) for x in lines] == [{"step": 1, "train/reward": 0.25, "train/loss": 1.5, "n": 3}]
    lg.log_metrics({"val/coco_fewshot/mAP": float("nan")}, step=2)
    lg.finalize("success")
    lg.finalize("success")
    JsonlLogger(tmp_path).log_metrics({"train/reward": 0.5}, step=3)  # a resumed run appends
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and list(rows[0])[0] == "step"
    assert math.isnan(rows[1]["val/coco_fewshot/mAP"])


@pytest.mark.parametrize(
    ("kind", "types"), [("none", ["JsonlLogger"]), ("csv", ["JsonlLogger", "CSVLogger"])]
)
def test_build_loggers_kinds(tmp_path, kind, types):
    loggers = build_loggers(LoggerCfg(kind=kind), tmp_path, name="r", group=None, tags=[], config={})
    assert [type(lg).__name__ for lg in loggers] == types
    for lg in loggers:
        lg.log_metrics({"train/reward": 1.0}, step=1)
    finish_loggers(loggers, "ok")
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["train/reward"] == 1.0
    assert (tmp_path / "metrics.csv").exists() == (kind == "csv")


def test_wandb_disabled_and_bad_kind(tmp_path):
    loggers = build_loggers(
        LoggerCfg(kind="wandb", mode="disabled"), tmp_path, name="r", group=None, tags=[], config={}
    )
    assert [type(lg).__name__ for lg in loggers] == ["JsonlLogger"]
    with pytest.raises(ValueError, match="logger.kind"):
        build_loggers(LoggerCfg(kind="tensorboard"), tmp_path, name="r", group=None, tags=[], config={})


def test_run_tags():
    assert run_tags("coco_fewshot", 4, "grpo", "qwen2_vl_2b", 1) == [
        "task=coco_fewshot",
        "shots=4",
        "algo=grpo",
        "model=qwen2_vl_2b",
        "seed=1",
    ]
    assert run_tags("coco_ov", None, "sft", "m", 0)[1] == "shots=all"


def test_draw_boxes_colours_and_copy():
    image = Image.new("RGB", (100, 80), "white")
    out = draw_boxes(
        image, pred_boxes=[[60, 50, 20, 10]], gt_boxes=[[5, 5, 40, 30], [1, 2, 3], [0, 0, math.nan, 4]]
    )
    assert image.getpixel((5, 5)) == (255, 255, 255)  # the input is untouched
    assert out.getpixel((5, 20)) == GT_COLOR  # left edge of the GT box
    assert out.getpixel((20, 30)) == PRED_COLOR  # left edge of the (reversed) predicted box
    assert out.getpixel((50, 70)) == (255, 255, 255)
    gray = draw_boxes(Image.new("L", (30, 30)), gt_boxes=[[-10, -10, 100, 100]])  # clipped to the image
    assert gray.mode == "RGB" and gray.getpixel((0, 0)) == GT_COLOR and gray.getpixel((29, 29)) == GT_COLOR


def test_table_rows_union_rewards_and_total():
    rows = [
        {
            "image": Image.new("RGB", (8, 8)),
            "prompt": "p1",
            "completion": "c1",
            "rewards": {"iou": 0.5, "format": 1.0},
        },
        {
            "image": None,
            "prompt": "p2",
            "completion": "c2",
            "rewards": {"format": 0.0, "confidence": None, "iou": math.nan},
        },
        {"image": None, "prompt": "p3", "completion": "c3", "rewards": {"iou": 0.2}, "total": 7.0},
    ]
    assert table_columns(rows) == ["image", "prompt", "completion", "iou", "format", "confidence", "total"]
    data = table_data(rows)
    assert data[0][1:] == ["p1", "c1", 0.5, 1.0, None, 1.5]
    assert data[1][-1] == 0.0 and data[1][5] is None
    assert data[2][-1] == 7.0
    assert isinstance(data[0][0], Image.Image)


def test_log_samples_without_wandb_is_a_noop(tmp_path):
    loggers = [JsonlLogger(tmp_path)]
    log_samples(
        loggers, 1, [{"image": Image.new("RGB", (8, 8)), "prompt": "p", "completion": "c", "rewards": {}}]
    )
    assert not (tmp_path / "metrics.jsonl").exists()


@pytest.fixture(scope="module")
def wandb_runs(tmp_path_factory):
    """Two offline W&B runs in a row, as a sequential multirun makes them: the first fails, the second succeeds."""
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("wandb")
    home = tmp / "home"
    home.mkdir()
    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR", *DIR_VARS):
        mp.delenv(var, raising=False)
    mp.setenv("HOME", str(home))
    mp.setenv("NETRC", str(tmp / "no-netrc"))
    mp.setenv("WANDB_SILENT", "true")
    import wandb

    out = {"home": home, "runs": []}
    for i, status in enumerate(("failed", "ok")):
        run_dir = tmp / f"run{i}"
        cfg = LoggerCfg(kind="wandb", mode="auto", group="cfg-group", tags=["paper"])
        loggers = build_loggers(
            cfg,
            run_dir,
            name=f"job{i}",
            group="sweep-g",
            tags=run_tags("coco_fewshot", 4, "grpo", "tiny", i),
            config={"algo": {"beta": 0.04}},
        )
        wl = loggers[1]
        for lg in loggers:
            lg.log_metrics({"train/reward": 0.5 + i}, step=1)
        exp = wl.experiment
        info = {
            "dir": run_dir,
            "id": exp.id,
            "offline": exp.offline,
            "group": exp.group,
            "tags": tuple(exp.tags),
            "config": dict(exp.config),
            "name": exp.name,
            "env": {v: os.environ[v] for v in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR")},
        }
        calls = []
        original = exp.finish
        exp.finish = lambda exit_code=None, _f=original, _calls=calls, **kw: (
            _calls.append(exit_code),
            _f(exit_code=exit_code),
        )
        if i == 0:
            rows = [
                {
                    "image": Image.new("RGB", (64, 48), "white"),
                    "prompt": "find the bus",
                    "completion": "<answer>",
                    "rewards": {"iou": 0.5, "format": 1.0},
                    "pred_boxes": [[30, 20, 60, 45]],
                    "gt_boxes": [[2, 2, 25, 25]],
                }
            ]
            log_samples(loggers, 2, rows)
            log_summary(loggers, {"final": 12.5, "task": "coco_fewshot", "per_class_final": {"bus": 3.0}})
            info["summary"] = {k: exp.summary[k] for k in ("final", "task", "per_class/bus")}
        finish_loggers(loggers, status)
        finish_loggers(loggers, status)  # twice: harmless
        info["finish_calls"] = calls
        info["run_after"] = wandb.run
        out["runs"].append(info)
    yield out
    mp.undo()


def test_wandb_offline_run_in_run_folder(wandb_runs):
    first, second = wandb_runs["runs"]
    assert first["offline"] and first["id"] != second["id"]  # a new run per job, never the previous one
    for info in (first, second):
        folders = list((info["dir"] / "wandb").glob(f"offline-run-*-{info['id']}"))
        assert len(folders) == 1 and (folders[0] / f"run-{info['id']}.wandb").stat().st_size > 0
        assert all(Path(p).is_relative_to(info["dir"]) for p in info["env"].values())
        assert json.loads((info["dir"] / "metrics.jsonl").read_text())["step"] == 1
    assert not [p for p in wandb_runs["home"].rglob("*") if "wandb" in str(p)]


def test_wandb_tags_group_config_and_summary(wandb_runs):
    first = wandb_runs["runs"][0]
    assert first["group"] == "sweep-g" and first["name"] == "job0"
    assert first["tags"] == ("task=coco_fewshot", "shots=4", "algo=grpo", "model=tiny", "seed=0", "paper")
    assert first["config"]["algo"]["beta"] == 0.04
    assert first["summary"] == {"final": 12.5, "task": "coco_fewshot", "per_class/bus": 3.0}


def test_wandb_finish_codes_and_no_leak(wandb_runs):
    first, second = wandb_runs["runs"]
    assert first["finish_calls"] == [1] and second["finish_calls"] == [
        0
    ]  # once each, failure code on failure
    assert first["run_after"] is None and second["run_after"] is None


def test_wandb_sample_table_with_drawn_image(wandb_runs):
    first = wandb_runs["runs"][0]
    tables = list((first["dir"] / "wandb").glob("offline-run-*/files/media/table/samples_*.table.json"))
    assert len(tables) == 1
    assert json.loads(tables[0].read_text())["columns"] == [
        "image",
        "prompt",
        "completion",
        "iou",
        "format",
        "total",
    ]
    pngs = []
    for path in Path(first["env"]["WANDB_DATA_DIR"]).rglob("*"):
        if path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n":
            pngs.append(Image.open(path).convert("RGB"))
    assert pngs, "the table's image was not staged for `wandb sync`"
    colours = {c for img in pngs for _, c in img.getcolors(maxcolors=1 << 16)}
    assert GT_COLOR in colours and PRED_COLOR in colours
