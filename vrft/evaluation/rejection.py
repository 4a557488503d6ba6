"""`python -m vrft.evaluation.rejection`: how often a detection model answers "No Objects" when it SAMPLES, on the
held-out queries whose category is absent and on those whose category is present.

Greedy evaluation shows only the most likely answer; GRPO learns from samples. A model whose sampled rejection
rate is the same on absent and present queries has no image-conditioned rejection to sharpen: GRPO can then only
move the overall rate, towards whichever answer the training mix rewards more often. This command measures those
two rates (temperature 1, no top-p/top-k, as training samples) and how many queries' samples disagree (the groups
that give GRPO a signal).

    python -m vrft.evaluation.rejection --model RUN/final_model --predictions RUN/eval/predictions_initial.json \
        --images WORLD/novel_test

`--predictions` gives the queries (problem, solution, meta.image_id) of a run's held-out evaluation, `--images` the
COCO folder of that split (its `annotations/instances_*.json` names each image's file). Writes one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

REJECT = "No Objects"


def rejection_rates(samples: Sequence[Sequence[str]], absent: Sequence[bool]) -> dict:
    """Per presence (`absent[i]` for query i): queries, the share of samples that answer "No Objects", and the
    number of queries whose samples both reject and box. Pure."""
    out = {}
    for key, want in (("absent", True), ("present", False)):
        groups = [s for s, a in zip(samples, absent, strict=True) if a == want]
        n = sum(len(s) for s in groups)
        rejects = [sum(REJECT in t for t in s) for s in groups]
        out[key] = {
            "queries": len(groups),
            "p_reject": round(sum(rejects) / n, 4) if n else None,
            "mixed_groups": sum(0 < r < len(s) for r, s in zip(rejects, groups, strict=True)),
        }
    return out


def _image_files(images: Path) -> dict:
    ann = next(iter(sorted((images / "annotations").glob("instances_*.json"))), None)
    if ann is None:
        raise SystemExit(f"vrft.evaluation.rejection: error: no annotations/instances_*.json under {images}")
    folder = images / images.name
    return {im["id"]: str(folder / im["file_name"]) for im in json.loads(ann.read_text())["images"]}


def query_rows(preds: list, files: dict, source: Path) -> list[dict]:
    """The probe's rows: each prediction's problem and solution with the image its `meta.image_id` names."""
    rows = []
    for i, p in enumerate(preds):
        meta = p.get("meta") if isinstance(p, dict) else None
        image_id = meta.get("image_id") if isinstance(meta, dict) else None
        where = f"vrft.evaluation.rejection: error: {source} entry {i}"
        if image_id is None or "problem" not in p or "solution" not in p:
            raise SystemExit(
                f"{where} lacks problem, solution or meta.image_id (expected a run's eval/predictions_*.json)"
            )
        if image_id not in files:
            raise SystemExit(f"{where} names image {image_id}, which is not in --images' annotations")
        rows.append(
            {"image": files[image_id], "problem": p["problem"], "solution": p["solution"], "meta": {}}
        )
    return rows


def sample(model, processor, rows: list[dict], g: int, max_new_tokens: int) -> list[list[str]]:
    import torch

    from vrft.data.collate import PromptCollator

    collate, out = PromptCollator(processor), []
    for i in range(0, len(rows), 8):
        inputs = collate(rows[i : i + 8])["inputs"]
        with torch.no_grad():
            ids = model.generate(
                **inputs,
                do_sample=True,
                temperature=1.0,
                top_p=1.0,
                top_k=0,
                max_new_tokens=max_new_tokens,
                num_return_sequences=g,
            )
        texts = processor.batch_decode(ids[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        out.extend(texts[j * g : (j + 1) * g] for j in range(len(texts) // g))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m vrft.evaluation.rejection", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--predictions", required=True, type=Path)
    ap.add_argument("--images", required=True, type=Path)
    ap.add_argument("--family", default="qwen3_vl")
    ap.add_argument("--min-pixels", type=int, default=4096)
    ap.add_argument("--max-pixels", type=int, default=16384)
    ap.add_argument("--samples", type=int, default=8, help="completions per query (G)")
    ap.add_argument("--queries", type=int, default=120, help="the first N held-out queries")
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    import torch

    from vrft.models import ModelSpec, load_model

    torch.manual_seed(args.seed)
    preds = json.loads(args.predictions.read_text())[: args.queries]
    files = _image_files(args.images)
    rows = query_rows(preds, files, args.predictions)
    spec = ModelSpec(
        name="probe",
        path=str(args.model),
        family=args.family,
        min_pixels=args.min_pixels,
        max_pixels=args.max_pixels,
    )
    model, processor = load_model(spec, args.model)
    texts = sample(model, processor, rows, args.samples, args.max_new_tokens)
    rates = rejection_rates(texts, [REJECT in p["solution"] for p in preds])
    print(json.dumps({"model": str(args.model), "samples": args.samples, **rates}))


if __name__ == "__main__":
    main(sys.argv[1:])
