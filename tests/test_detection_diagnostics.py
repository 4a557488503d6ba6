"""Detection diagnostics (vrft.evaluation.diagnostics) on hand-built queries, values computed by hand."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from vrft.evaluation.diagnostics import detection_diagnostics, expected_calibration_error, flat_diagnostics
from vrft.evaluation.runner import METRICS, Evaluator
from vrft.models.codec import Norm1000Codec


def _ans(*boxes: tuple) -> str:
    items = ", ".join(f"{{'Position': {list(b)}, 'Confidence': {c}}}" for *b, c in boxes)
    return f"<think>x</think><answer>[{items}]</answer>"


def _sol(*boxes: tuple) -> str:
    if not boxes:
        return "<answer>No Objects</answer>"
    return (
        "<answer>[" + ", ".join(f"{{'Position': {list(b)}, 'Confidence': 1}}" for b in boxes) + "]</answer>"
    )


NONE = "<think>x</think><answer>No Objects</answer>"
QUERIES = [  # (completion, solution, category)
    # cat: exact box (IoU 1), a box of IoU 10000/15000 = 0.667, a stray box; greedy by confidence
    (
        _ans((0, 0, 100, 100, 0.9), (200, 200, 300, 350, 0.65), (500, 500, 600, 600, 0.35)),
        _sol((0, 0, 100, 100), (200, 200, 300, 300)),
        "cat",
    ),
    (NONE, _sol(), "cat"),  # absent, rejected
    (
        _ans((10, 10, 50, 50, 0.15), (50, 50, 10, 10, 0.5)),
        _sol(),
        "dog",
    ),  # absent, one box + one invalid entry
    (NONE, _sol((0, 0, 100, 100)), "dog"),  # present, falsely rejected
    ("<answer>[{'Position': [0, 0", _sol((0, 0, 100, 100)), "dog"),  # present, unparseable
]


def test_hand_built_queries():
    d = detection_diagnostics(*zip(*QUERIES, strict=True))
    # 4 predicted boxes (3 + 1), 4 truth boxes (2 + 1 + 1); matched: 2 at 0.5, 1 at 0.75 and 0.95
    assert (d["predicted_boxes"], d["truth_boxes"]) == (4, 4)
    assert d["precision@50"] == d["recall@50"] == 50.0
    assert d["precision@75"] == d["recall@75"] == d["precision@95"] == d["recall@95"] == 25.0
    cat, dog = d["per_class"]["cat"], d["per_class"]["dog"]
    assert cat["precision@50"] == pytest.approx(200 / 3) and cat["recall@50"] == 100.0
    assert cat["precision@75"] == pytest.approx(100 / 3) and cat["recall@75"] == 50.0
    assert dog["precision@50"] == dog["recall@50"] == 0.0
    assert (d["absent_queries"], d["present_queries"]) == (2, 3)
    assert d["rejection_rate"] == 50.0
    assert d["false_rejection_rate"] == pytest.approx(100 / 3)
    assert (d["unparsed"], d["invalid_entries"]) == (1, 1)
    # one box per bin: 0.9 right, 0.65 right, 0.35 wrong, 0.15 wrong -> (0.1 + 0.35 + 0.35 + 0.15) / 4
    assert d["ece"] == pytest.approx(23.75)


def test_undefined_rates_are_none():
    d = detection_diagnostics([NONE], [_sol((0, 0, 10, 10))], ["cat"])
    assert d["precision@50"] is None and d["recall@50"] == 0.0
    assert d["rejection_rate"] is None and d["false_rejection_rate"] == 100.0
    assert d["ece"] is None
    with pytest.raises(ValueError, match="2 completions, 1 solutions"):
        detection_diagnostics([NONE, NONE], [_sol()], ["cat", "cat"])


def test_ece_within_one_bin_and_perfect_calibration():
    assert expected_calibration_error([0.82, 0.84], [True, False]) == pytest.approx(33.0)  # |0.5 - 0.83|
    assert expected_calibration_error([1.0, 0.0], [True, False]) == pytest.approx(0.0)
    assert expected_calibration_error([], []) is None


def test_duplicates_count_once():
    box = (0, 0, 100, 100)
    d = detection_diagnostics([_ans((*box, 0.9), (*box, 0.3))], [_sol(box)], ["cat"])
    assert d["predicted_boxes"] == 1 and d["precision@95"] == 100.0


def test_flat_names():
    d = detection_diagnostics(*zip(*QUERIES, strict=True))
    flat = flat_diagnostics(d, "eval/final")
    assert flat["eval/final/recall@50"] == 50.0 and flat["eval/final/ece"] == pytest.approx(23.75)
    assert flat["eval/final/per_class/cat/recall@75"] == 50.0
    assert "eval/final/per_class" not in flat and all(isinstance(v, float) for v in flat.values())


def test_detection_evaluation_returns_and_writes_them(tmp_path):
    """The detection metric carries the diagnostics; the evaluator writes them to eval/diagnostics_<tag>.json."""
    gt = {
        "images": [{"id": 1, "width": 1000, "height": 1000}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "area": 1e4, "iscrowd": 0}
        ],
        "categories": [{"id": 1, "name": "cat"}],
    }
    rows = [
        {
            "problem": "p",
            "solution": _sol((0, 0, 100, 100)),
            "meta": {"image_id": 1, "category_id": 1, "category": "cat", "width": 1000, "height": 1000},
        }
    ]
    spec = SimpleNamespace(rows=rows, codec=Norm1000Codec(), lvis=False, categories=["cat"])
    ev = SimpleNamespace(spec=spec, ground_truth=lambda: gt, out_dir=tmp_path)
    metrics, dets = METRICS.get("detection")(ev, [_ans((0, 0, 100, 100, 0.8))])
    assert metrics["mAP"] == pytest.approx(100.0) and metrics["diagnostics"]["recall@95"] == 100.0
    Evaluator.write(ev, "final", [_ans((0, 0, 100, 100, 0.8))], metrics, dets)
    written = json.loads((tmp_path / "diagnostics_final.json").read_text())
    assert written["ece"] == pytest.approx(20.0)  # one right box at 0.8
    assert "diagnostics" not in json.loads((tmp_path / "metrics_final.json").read_text())
    assert metrics["diagnostics"]["ece"] == pytest.approx(20.0)  # the caller's dict is left whole


def test_run_logs_them_as_eval_tag_names(tmp_path):
    from vrft.run import earlier_metrics, log_diagnostics

    got = []
    logger = SimpleNamespace(log_metrics=lambda m, step: got.append((m, step)))
    d = detection_diagnostics(*zip(*QUERIES, strict=True))
    log_diagnostics([logger], {"initial": None, "final": {"mAP": 1.0, "diagnostics": d}}, 7)
    ((metrics, step),) = got
    assert step == 7 and metrics["eval/final/rejection_rate"] == 50.0
    assert not any(k.startswith("eval/initial") for k in metrics)
    log_diagnostics([logger], {"final": {"accuracy": 1.0}}, 8)  # no diagnostics: nothing logged
    assert len(got) == 1
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "metrics_initial.json").write_text('{"mAP": 1.0}')
    (tmp_path / "eval" / "diagnostics_initial.json").write_text(json.dumps(d))
    assert earlier_metrics(tmp_path, "initial")["diagnostics"]["ece"] == pytest.approx(
        23.75
    )  # a resume logs them
