"""Held-out evaluation of a policy: batched greedy generation, then the task family's metric.

Used before training, inside the loop (`val/<task>/<metric>`) and after training, and by `python -m vrft.evaluate`.
Generation uses the training prompt and collator (one code path), greedy decoding with every setting explicit.
Detection AP is computed against the ground truth of the evaluated images only (a capped split is not penalised
for images it never asked about). Predictions and metrics are written to the run folder (`eval/`); detection also
returns and writes its diagnostics (`diagnostics_<tag>.json`, vrft.evaluation.diagnostics). Left out: sharding the
evaluation over several processes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vrft.data.coco import refused_queries
from vrft.data.collate import PromptCollator
from vrft.evaluation.classification import classification_accuracy
from vrft.evaluation.detection import coco_map, lvis_map, predictions_to_coco
from vrft.evaluation.diagnostics import detection_diagnostics
from vrft.evaluation.grounding import grounding_metrics
from vrft.registry import Registry
from vrft.rollout.sampling import SamplingSpec, generation_config

log = logging.getLogger(__name__)


@dataclass
class EvalSpec:
    task: str
    family: str
    metric: str
    rows: list[dict]
    codec: Any
    gt_json: Path | None = None
    lvis: bool = False
    categories: list[str] | None = None
    batch_size: int = 16
    max_new_tokens: int = 256


def subset_gt(gt_json: Path, image_ids: set) -> dict:
    """The ground-truth JSON restricted to `image_ids` (images and their annotations; categories kept), without the
    annotations of queries the reader skipped for a bad box (`data.skip_bad=true`; they were never asked)."""
    data = json.loads(Path(gt_json).read_text())
    refused = refused_queries(data, gt_json)
    data["images"] = [im for im in data["images"] if im["id"] in image_ids]
    data["annotations"] = [
        a
        for a in data.get("annotations", [])
        if a["image_id"] in image_ids and (a["image_id"], a.get("category_id")) not in refused
    ]
    return data


class Evaluator:
    def __init__(
        self,
        spec: EvalSpec,
        processor,
        *,
        eos_ids: list[int],
        pad_id: int,
        suppress_ids: list[int],
        out_dir: Path | None = None,
    ):
        self.spec = spec
        self.processor = processor
        self.collate = PromptCollator(processor)
        self.gen = generation_config(
            SamplingSpec(max_new_tokens=spec.max_new_tokens, do_sample=False),
            num_return_sequences=1,
            eos_ids=eos_ids,
            pad_id=pad_id,
            suppress_ids=suppress_ids,
        )
        self.out_dir = out_dir
        self._gt = None

    @torch.no_grad()
    def generate(self, model) -> list[str]:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        out: list[str] = []
        rows = self.spec.rows
        for i in range(0, len(rows), self.spec.batch_size):
            batch = self.collate(rows[i : i + self.spec.batch_size])
            inputs = {k: v.to(device) for k, v in batch["inputs"].items()}
            ids = model.generate(**inputs, generation_config=self.gen)[:, inputs["input_ids"].shape[1] :]
            out.extend(self.processor.batch_decode(ids, skip_special_tokens=True))
        model.train(was_training)
        return out

    def metrics(self, completions: list[str]) -> tuple[dict[str, Any], list[dict] | None]:
        """The task family's metrics (`METRICS`) and, for detection, the COCO-format detections."""
        return METRICS.get(self.spec.family)(self, completions)

    def ground_truth(self) -> dict:
        """The ground-truth JSON of the evaluated images (read once)."""
        if self._gt is None:
            self._gt = subset_gt(self.spec.gt_json, {r["meta"]["image_id"] for r in self.spec.rows})
        return self._gt

    def __call__(self, model, tag: str) -> dict[str, Any]:
        completions = self.generate(model)
        metrics, dets = self.metrics(completions)
        if self.out_dir is not None:
            self.write(tag, completions, metrics, dets)
        log.info("eval %s: %s = %.2f", tag, self.spec.metric, metrics[self.spec.metric])
        return metrics

    def write(self, tag: str, completions: list[str], metrics: dict, dets: list[dict] | None) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        preds = [
            {"problem": r["problem"], "solution": r["solution"], "completion": c, "meta": r["meta"]}
            for r, c in zip(self.spec.rows, completions, strict=True)
        ]
        (self.out_dir / f"predictions_{tag}.json").write_text(json.dumps(preds, indent=1, default=str))
        if dets is not None:
            (self.out_dir / f"detections_{tag}.json").write_text(json.dumps(dets))
        metrics = dict(metrics)
        diagnostics = metrics.pop("diagnostics", None)
        if diagnostics is not None:
            (self.out_dir / f"diagnostics_{tag}.json").write_text(json.dumps(diagnostics, indent=1))
        (self.out_dir / f"metrics_{tag}.json").write_text(json.dumps(metrics, indent=1, default=str))


METRICS = Registry(
    "task family"
)  # task.family -> fn(evaluator, completions) -> (metrics, detections or None)


@METRICS.register("classification")
def _classification(ev: Evaluator, completions: list[str]):
    return classification_accuracy(completions, [r["meta"]["label"] for r in ev.spec.rows]), None


@METRICS.register("detection")
def _detection(ev: Evaluator, completions: list[str]):
    s = ev.spec
    dets = predictions_to_coco(completions, [r["meta"] for r in s.rows], s.codec)
    fn = lvis_map if s.lvis else coco_map
    metrics = fn(ev.ground_truth(), dets, s.categories)
    metrics["diagnostics"] = detection_diagnostics(
        completions, [r["solution"] for r in s.rows], [r["meta"]["category"] for r in s.rows]
    )
    return metrics, dets


@METRICS.register("grounding")
def _grounding(ev: Evaluator, completions: list[str]):
    return grounding_metrics(completions, [r["meta"] for r in ev.spec.rows], ev.spec.codec), None
