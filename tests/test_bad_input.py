"""Bad input, one case at a time: each ends in exit code 2 and one `vrft: error:` line naming the file or key
(or, with data.skip_bad=true, in a counted skip). Plus hostile input: model output holding code is parsed, never
run; no source file evaluates text or unpickles; a run writes nothing outside its run folder and the cache.

The entry point's start-up (torch, transformers) takes seconds, so the cases run through `vrft.__main__.main`
one after another inside a single `python` process (the same function `python -m vrft` calls), started with a
temporary HOME, TMPDIR and working directory that must stay empty. The unwritable-folder case also runs as a
real `python -m vrft` (it fails before the heavy imports).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_CACHE, compose_run
from tests.test_resume import vrft_env

DRIVER = r"""
import contextlib, io, json, sys
from hydra.core.global_hydra import GlobalHydra
from vrft.__main__ import main

cases_file, out_file = sys.argv[1:3]
cases, out = json.loads(open(cases_file).read()), {}
for name, argv in cases.items():
    sys.argv, err, code = ["vrft", *argv], io.StringIO(), 0
    with contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as exit:
            code = exit.code
        except BaseException as exc:
            code = f"uncaught {type(exc).__name__}: {exc}"
    GlobalHydra.instance().clear()
    out[name] = {"code": code, "stderr": err.getvalue()}
open(out_file, "w").write(json.dumps(out))
"""

CATS = ["cat", "dog"]


def coco(root: Path, split: str) -> tuple[Path, Path]:
    from vrft.data.standins.detection import write_coco

    return write_coco(root, 4, CATS, seed=0, split=split)


def tiny_model_folder() -> Path:
    from vrft.models.loader import resolve_path

    return Path(resolve_path(compose_run(["model=tiny_qwen2_vl"], ROOT, TEST_CACHE).model, TEST_CACHE))


class Case:
    """One bad input: its own COCO stand-in, overrides, and what the error line must say."""

    def __init__(self, base: Path, name: str):
        self.name, self.root, self.run = name, base / name, base / "runs" / name
        self.train_json, self.train_dir = coco(self.root, "train2017")
        self.test_json, self.test_dir = coco(self.root, "val2017")
        self.image = self.test_dir / "000000000001.jpg"
        self.extra: list[str] = []

    def argv(self) -> list[str]:
        return [
            "task=coco_fewshot",
            "model=tiny_qwen2_vl",
            "logger=none",
            "task.shots=1",
            f"task.categories=[{','.join(CATS)}]",
            f"task.train.path={self.train_json}",
            f"task.train.images={self.train_dir}",
            f"task.test.path={self.test_json}",
            f"task.test.images={self.test_dir}",
            "eval.before=false",
            "eval.max_samples=null",
            "rollout.sampling.max_new_tokens=4",
            "algo.num_generations=2",
            "algo.prompts_per_step=1",
            "trainer.max_steps=0",
            "save_final_model=false",
            "runtime.num_threads=1",
            f"paths.cache_dir={TEST_CACHE}",
            f"hydra.run.dir={self.run}",
            *self.extra,
        ]


def build_cases(base: Path) -> tuple[dict[str, Case], dict[str, str]]:
    """Every case and the pattern its error line must match ("" = the run succeeds)."""
    cases = {
        n: Case(base, n)
        for n in (
            "corrupt_image",
            "missing_image",
            "skip_bad",
            "malformed_json",
            "empty_split",
            "unknown_category",
            "no_processor",
            "unwritable_output",
            "nothing_to_resume",
        )
    }
    c = cases
    c["corrupt_image"].image.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    c["missing_image"].image.unlink()
    c["skip_bad"].image.write_bytes(b"garbage")
    c["skip_bad"].extra = ["data.skip_bad=true"]
    c["malformed_json"].train_json.write_text('{"images": [,]}')
    data = json.loads(c["empty_split"].train_json.read_text())
    c["empty_split"].train_json.write_text(json.dumps({**data, "annotations": []}))
    c["unknown_category"].extra = ["task.categories=[cat,zebra]"]
    bare = base / "bare_model"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_model_folder() / name, bare / name)
    c["no_processor"].extra = [f"model.path={bare}"]
    blocker = base / "a_file"
    blocker.write_text("not a folder")
    c["unwritable_output"].extra = [f"hydra.run.dir={blocker / 'run'}"]
    c["nothing_to_resume"].extra = ["resume=true"]
    q = re.escape
    expected = {
        "corrupt_image": rf"{q(str(c['corrupt_image'].image))}: cannot decode image .*set data\.skip_bad=true",
        "missing_image": rf"{q(str(c['missing_image'].image))}: image file not found .*set data\.skip_bad=true",
        "skip_bad": "",
        "malformed_json": rf"{q(str(c['malformed_json'].train_json))}: malformed JSON \(.* at line 1 column \d+\)",
        "empty_split": rf"{q(str(c['empty_split'].train_json))}.*task\.shots",
        "unknown_category": rf"{q(str(c['unknown_category'].train_json))}: unknown category 'zebra'",
        "no_processor": rf"{q(str(bare))} has no preprocessor_config\.json / tokenizer: missing ",
        "unwritable_output": rf"hydra\.run\.dir={q(str(blocker / 'run'))}: cannot write the output folder "
        rf"\({q(str(blocker))} is not a folder\)",
        "nothing_to_resume": rf"resume=true but {q(str(c['nothing_to_resume'].run / 'checkpoints'))} holds no "
        "complete checkpoint",
    }
    return cases, expected


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """Run every case once in one process with an empty HOME, TMPDIR and working directory."""
    base = tmp_path_factory.mktemp("bad_input")
    cases, expected = build_cases(base)
    home, tmp, cwd = (base / d for d in ("home", "tmp", "cwd"))
    for d in (home, tmp, cwd):
        d.mkdir()
    (base / "cases.json").write_text(json.dumps({n: c.argv() for n, c in cases.items()}))
    env = vrft_env(HOME=str(home), TMPDIR=str(tmp), PYTHONPATH=str(ROOT))
    env.pop("XDG_CACHE_HOME", None), env.pop("XDG_CONFIG_HOME", None)
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(base / "cases.json"), str(base / "out.json")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    strays = [str(p) for d in (home, tmp, cwd) for p in d.rglob("*")]
    return cases, expected, json.loads((base / "out.json").read_text()), strays


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("vrft: error: ")]


NAMES = [
    "corrupt_image",
    "missing_image",
    "malformed_json",
    "unknown_category",
    "no_processor",
    "unwritable_output",
    "nothing_to_resume",
    "empty_split",
]


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_one_error_line_naming_the_file_or_key(outcome, name):
    _, expected, results, _ = outcome
    result = results[name]
    lines = error_lines(result["stderr"])
    assert result["code"] == 2, result["stderr"][-2000:]
    assert len(lines) == 1 and "Traceback" not in result["stderr"], result["stderr"][-2000:]
    assert re.fullmatch(r"vrft: error: .*" + expected[name] + ".*", lines[0]), lines[0]


def test_skip_bad_counts_the_unreadable_image_and_runs(outcome):
    cases, _, results, _ = outcome
    case = cases["skip_bad"]
    assert results["skip_bad"]["code"] == 0, results["skip_bad"]["stderr"][-2000:]
    data = json.loads(case.test_json.read_text())
    cat_ids = {c["id"] for c in data["categories"] if c["name"] in CATS}
    queries_of_image_1 = {a["category_id"] for a in data["annotations"] if a["image_id"] == 1} & cat_ids
    summary = json.loads((case.run / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["skipped_records"] == len(queries_of_image_1) > 0


def test_runs_write_nothing_outside_the_run_folder_and_cache(outcome):
    *_, strays = outcome
    assert strays == []


def test_unwritable_output_folder_from_the_command_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    proc = subprocess.run(
        [sys.executable, "-m", "vrft", f"hydra.run.dir={blocker / 'run'}"],
        cwd=ROOT,
        env=vrft_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"vrft: error: hydra.run.dir={blocker / 'run'}: cannot write the output folder ({blocker} is not a folder)"
    ]


# ---------------------------------------------------------------- model output is data, never code

PAYLOADS = [
    "<think>x</think><answer>__import__('pathlib').Path({m!r}).touch()</answer>",
    "<think>x</think><answer>[{{'Position': __import__('os').system('touch {m}'), 'Confidence': 1}}]</answer>",
    "<think>x</think><answer>[{{'Position': [1, 2, 3, 4], 'Confidence': exec(\"open({m!r}, 'w')\")}}]</answer>",
    "<answer>{{'Position': eval(\"open({m!r}, 'w')\"), 'Confidence': 0.9}}</answer>",
]


def test_a_completion_holding_code_is_scored_without_running_it(tmp_path):
    from vrft.rewards.base import REWARDS
    from vrft.rewards.combine import RewardSpec, score

    marker = tmp_path / "ran"
    completions = [p.format(m=str(marker)) for p in PAYLOADS]
    boxes = "<answer>[{'Position': [1, 2, 30, 40], 'Confidence': 1}]</answer>"
    solutions = {
        "iou": boxes,
        "confidence": boxes,
        "map": boxes,
        "count": boxes,
        "giou": "<answer>(1,2),(30,40)</answer>",
        "accuracy": "<answer>cat</answer>",
        "format": "<answer>cat</answer>",
    }
    shipped = {n for n in REWARDS if not n.startswith("test_")}  # other test modules register test rewards
    assert set(solutions) == shipped, "a reward without a hostile-input case"
    for name, sol in solutions.items():
        _, matrix = score(completions, [sol] * len(completions), [RewardSpec(name)])
        assert all(math.isfinite(v) and 0.0 <= v <= 2.0 for row in matrix for v in row), (name, matrix)
    assert not marker.exists()


UNSAFE = re.compile(
    r"(?<![\w.])(eval|exec|compile)\(|pickle\.loads?\(|yaml\.(unsafe_)?load\(|os\.system\(|"
    r"shell=True|literal_eval|__import__\("
)


def test_no_source_file_evaluates_text_or_unpickles():
    offenders = []
    for path in sorted((ROOT / "vrft").rglob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if UNSAFE.search(code) or ("torch.load(" in code and "weights_only=True" not in code):
                offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert offenders == []
