"""Reward sets (combine), hacking monitors, conf/reward/*.yaml and TRL 1.16's reward-function call convention."""

import inspect
import math
import pickle
import re
from pathlib import Path

import pytest
import yaml

from vrft.errors import ConfigError
from vrft.registry import RegistryError
from vrft.rewards import REWARDS
from vrft.rewards.combine import RewardSpec, reward_fns, score, weighted_total
from vrft.rewards.monitors import hack_monitors

CONF = Path(__file__).resolve().parents[1] / "conf" / "reward"


def wrap(answer):
    return f"<think>t</think><answer>{answer}</answer>"


DET_SOL = "<answer>[{'Position': [0, 0, 100, 100], 'Confidence': 1}]</answer>"
CLS_SOL = "<answer>garden phlox</answer>"
GRD_SOL = "<answer> (0,0),(10,10) </answer>"
DET_OK = wrap("[{'Position': [0, 0, 100, 100], 'Confidence': 0.9}]")


def test_score_matrix_on_a_mixed_batch():
    specs = [
        RewardSpec("iou"),
        RewardSpec("accuracy", 2.0, {"match": "substring"}),
        RewardSpec("format", 0.5),
    ]
    completions = [DET_OK, wrap("phlox"), "(0,0),(10,10)"]
    names, m = score(completions, [DET_SOL, CLS_SOL, GRD_SOL], specs, image_id=[1, 2, 3])
    assert names == ["iou", "accuracy", "format"]
    expected = [[1.0, math.nan, 1.0], [math.nan, 1.0, 1.0], [math.nan, math.nan, 0.0]]
    assert [[("nan" if math.isnan(v) else v) for v in row] for row in m] == [
        [("nan" if math.isnan(v) else v) for v in row] for row in expected
    ]
    assert weighted_total(m, [s.weight for s in specs]) == [1.5, 2.5, 0.0]


@pytest.mark.parametrize(
    "matrix, weights, totals",
    [
        ([[1.0, 0.5, 1.0]], [1.0, 1.0, 1.0], [2.5]),
        ([[1.0, math.nan, 2.0]], [1.0, 1.0, 0.5], [2.0]),
        ([[math.nan, math.nan]], [1.0, 1.0], [0.0]),
        ([[0.2, 0.4], [1.0, math.nan]], [2.0, -1.0], [0.0, 2.0]),
        ([], [1.0], []),
    ],
)
def test_weighted_total(matrix, weights, totals):
    assert weighted_total(matrix, weights) == pytest.approx(totals)


def test_weighted_total_shape_mismatch():
    with pytest.raises(ValueError, match="row 0"):
        weighted_total([[1.0, 2.0]], [1.0])


def test_reward_fns_bind_kwargs_and_names():
    lenient = reward_fns([RewardSpec("accuracy", kwargs={"match": "substring"})])[0]
    strict = reward_fns([RewardSpec("accuracy")])[0]
    assert lenient.__name__ == "accuracy" and strict.__name__ == "accuracy"
    args = ([wrap("phlox")],)
    assert lenient(*args, solution=[CLS_SOL]) == [1.0]
    assert strict(*args, solution=[CLS_SOL]) == [0.0]
    assert lenient(*args, solution=[CLS_SOL], match="exact") == [
        1.0
    ]  # bound kwargs win over a same-named column
    again = pickle.loads(pickle.dumps(lenient))
    assert again.__name__ == "accuracy" and again(*args, solution=[CLS_SOL]) == [1.0]


@pytest.mark.parametrize(
    "specs, error, match",
    [
        ([RewardSpec("iou"), RewardSpec("iou")], ConfigError, "iou"),
        ([RewardSpec("bleu")], RegistryError, "valid: accuracy, confidence, count, format, giou, iou, map"),
    ],
)
def test_bad_specs(specs, error, match):
    with pytest.raises(error, match=match):
        reward_fns(specs)


@pytest.mark.parametrize(
    "name, rewards, kwargs",
    [
        (
            "detection",
            ["iou", "confidence", "format"],
            {"iou": {"iou_threshold": 0.5, "matching": "greedy", "iou_schedule": "fixed"}},
        ),
        ("classification", ["accuracy", "format"], {"accuracy": {"match": "exact"}}),
        ("grounding", ["giou", "format"], {}),
    ],
)
def test_reward_sets_in_conf(name, rewards, kwargs):
    path = CONF / f"{name}.yaml"
    node = yaml.safe_load(path.read_text())
    specs = [RewardSpec(n, v["weight"], v["kwargs"]) for n, v in node["functions"].items()]
    assert [s.name for s in specs] == rewards
    assert all(s.weight == 1.0 for s in specs)  # the paper sums unweighted
    for n, kw in kwargs.items():
        assert next(s for s in specs if s.name == n).kwargs == kw
    fns = reward_fns(specs)  # every name and keyword is accepted
    for fn in fns:
        assert len(fn([DET_OK], solution=[DET_SOL])) == 1
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#")
    valued = [ln for ln in lines if re.match(r"\s*\w+:\s*[^\s#]", ln)]  # `key: value` lines
    assert valued and all("#" in ln for ln in valued), "every value names its source in a comment"


MONITOR_BATCH = [
    # detection: 2 entries (1 invalid) / duplicates of a valid box / unparsed / no answer
    (
        wrap(
            "[{'Position': [0, 0, 100, 100], 'Confidence': 0.9}, {'Position': [0, 0, 1, 1], 'Confidence': NaN}]"
        ),
        DET_SOL,
    ),
    (wrap("[" + ", ".join(["{'Position': [0, 0, 100, 100], 'Confidence': 0.9}"] * 3) + "]"), DET_SOL),
    (wrap("[[0, 0, 100, 100]]"), DET_SOL),
    ("no tags", "<answer>No Objects</answer>"),
    # classification: exact / hedge / empty
    (wrap("garden phlox"), CLS_SOL),
    (wrap("tulip or garden phlox"), CLS_SOL),
    (wrap(""), CLS_SOL),
    # grounding
    (wrap("(0,0),(10,10)"), GRD_SOL),
]


def test_hack_monitors_values():
    completions, solutions = zip(*MONITOR_BATCH, strict=True)
    m = hack_monitors(list(completions), list(solutions))
    m = {k: v for k, v in m.items() if not k.startswith("compat/")}
    expected = {
        "no_answer_rate": 1 / 8,
        "empty_answer_rate": 1 / 8,
        "invalid_entry_rate": 1 / 5,
        "duplicate_box_rate": 2 / 4,
        "pred_boxes_per_answer": 5 / 4,
        "gt_boxes_per_answer": 3 / 4,
        "strict_accuracy": 1 / 3,
        "lenient_accuracy": 2 / 3,
        "lenient_strict_gap": 1 / 3,
    }
    assert m == pytest.approx(expected)


@pytest.mark.parametrize(
    "solutions, keys",
    [
        (
            [DET_SOL],
            {"invalid_entry_rate", "duplicate_box_rate", "pred_boxes_per_answer", "gt_boxes_per_answer"},
        ),
        ([CLS_SOL], {"strict_accuracy", "lenient_accuracy", "lenient_strict_gap"}),
        ([GRD_SOL], set()),
    ],
)
def test_hack_monitors_leave_out_absent_kinds(solutions, keys):
    m = hack_monitors([wrap("x")] * len(solutions), solutions)
    assert {k for k in m if not k.startswith("compat/")} == keys | {"no_answer_rate", "empty_answer_rate"}
    assert hack_monitors([], []) == {}


def test_trl_call_convention():
    """Mirror how TRL 1.16's GRPOTrainer calls a reward function (`_calculate_rewards`)."""
    import torch

    trl = pytest.importorskip("trl", reason="needs trl (pip install 'vrft[bench]', which make installs)")
    from transformers import TrainerState
    from trl.trainer.grpo_trainer import GRPOTrainer
    from trl.trainer.utils import get_callable_name, is_async_callable

    assert trl.__version__.startswith("1.16")
    src = inspect.getsource(GRPOTrainer._calculate_rewards)
    assert (
        "prompts=prompts, completions=completions, completion_ids=completion_ids_list, **reward_kwargs" in src
    )
    for key in ("trainer_state", "log_extra", "log_metric"):
        assert f'reward_kwargs["{key}"]' in src

    prompt = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Detect the cat."}]}]
    inputs = [
        {"prompt": prompt, "image": None, "problem": "cat", "solution": DET_SOL},
        {"prompt": prompt, "image": None, "problem": "flower", "solution": CLS_SOL},
    ]
    texts = [DET_OK, "garden phlox"]
    completions = [[{"role": "assistant", "content": t}] for t in texts]  # TRL's conversational form
    prompts = [x["prompt"] for x in inputs]
    keys = [k for k in inputs[0] if k not in ["prompt", "completion", "completion_ids"]]
    reward_kwargs = {k: [x[k] for x in inputs] for k in keys}
    reward_kwargs["trainer_state"] = TrainerState()
    reward_kwargs["log_extra"] = lambda column, values: None
    reward_kwargs["log_metric"] = lambda name, value: None

    specs = [RewardSpec(n) for n in ("iou", "confidence", "accuracy", "format")]
    expected = [[1.0, 0.9, math.nan, 1.0], [math.nan, math.nan, 0.0, 0.0]]
    for k, fn in enumerate([*reward_fns(specs), REWARDS.get("giou")]):
        assert get_callable_name(fn) == (specs[k].name if k < len(specs) else "giou_reward")
        assert not is_async_callable(fn)
        out = fn(prompts=prompts, completions=completions, completion_ids=[[1, 2], [3]], **reward_kwargs)
        out = [r if r is not None else torch.nan for r in out]
        col = torch.tensor(out, dtype=torch.float32)
        if k < len(specs):
            want = torch.tensor([row[k] for row in expected], dtype=torch.float32)
            assert torch.allclose(col, want, equal_nan=True)
        else:
            assert torch.isnan(col).all()
