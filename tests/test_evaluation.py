"""Evaluation metrics agree with pycocotools / lvis-api run directly and read answers like the rewards do."""

from __future__ import annotations

import contextlib
import io
import json
import random

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from vrft.data.records import DetectionRecord
from vrft.data.rows import to_row
from vrft.errors import ConfigError, DataError
from vrft.evaluation import (
    classification_accuracy,
    coco_map,
    grounding_ious,
    grounding_metrics,
    label_match,
    lvis_map,
    mask_metrics,
    polygons_to_mask,
    predictions_to_coco,
)
from vrft.models.codec import get_codec

NORM = get_codec("qwen2_vl", min_pixels=3136, max_pixels=401408)
PIXELS = get_codec("qwen2_5_vl", min_pixels=3136, max_pixels=200704)
CATS = [(1, "bus"), (2, "cat"), (3, "toilet")]  # "toilet" has no ground truth


def make_gt(n_images: int = 6, seed: int = 0) -> dict:
    rng = random.Random(seed)
    images, anns = [], []
    for i in range(1, n_images + 1):
        w, h = rng.choice([(640, 480), (500, 375), (800, 600)])
        images.append({"id": i, "width": w, "height": h, "file_name": f"{i}.jpg"})
        for cid in (1, 2):
            for _ in range(rng.randint(0, 2)):
                bw, bh = rng.uniform(40, w / 2), rng.uniform(40, h / 2)
                x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": i,
                        "category_id": cid,
                        "bbox": [x, y, bw, bh],
                        "area": bw * bh,
                        "iscrowd": 0,
                    }
                )
    cats = [{"id": cid, "name": name} for cid, name in CATS]
    return {"images": images, "annotations": anns, "categories": cats}


def perturbed(gt: dict, seed: int = 1) -> list[dict]:
    """Jittered copies of most ground-truth boxes plus false positives, with random scores."""
    rng = random.Random(seed)
    dets = []
    for a in gt["annotations"]:
        if rng.random() < 0.8:
            x, y, w, h = a["bbox"]
            j = [rng.uniform(-0.15, 0.15) * s for s in (w, h, w, h)]
            dets.append(
                {
                    "image_id": a["image_id"],
                    "category_id": a["category_id"],
                    "bbox": [x + j[0], y + j[1], w + j[2], h + j[3]],
                    "score": rng.random(),
                }
            )
    for img in gt["images"]:
        for cid in (1, 2, 3):
            if rng.random() < 0.5:
                dets.append(
                    {
                        "image_id": img["id"],
                        "category_id": cid,
                        "bbox": [rng.uniform(0, 300), rng.uniform(0, 200), 60, 50],
                        "score": rng.random(),
                    }
                )
    for cid in (1, 2):  # a crowded image: more than 10 confident detections, so the maxDets cut matters
        anns = [a for a in gt["annotations"] if a["category_id"] == cid]
        img = anns[0]["image_id"] if anns else 1
        dets += [
            {
                "image_id": img,
                "category_id": cid,
                "bbox": [5.0 * k, 3.0 * k, 20, 20],
                "score": 0.95 + k / 1000,
            }
            for k in range(12)
        ]
    return dets


def direct_coco(gt: dict, dets: list[dict]) -> tuple[dict, float]:
    """Per-class AP and COCOeval's own AP summary (stats[0]), from pycocotools run directly over all categories."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = json.loads(json.dumps(gt))
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(json.loads(json.dumps(dets))), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    per = {}
    for k, cid in enumerate(ev.params.catIds):
        p = ev.eval["precision"][:, :, k, 0, 2]
        per[dict(CATS)[cid]] = float(np.mean(p[p > -1]) * 100) if (p > -1).any() else None
    return per, ev.stats[0] * 100


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coco_map_agrees_with_pycocotools(tmp_path, seed):
    gt, dets = make_gt(seed=seed), perturbed(make_gt(seed=seed), seed=seed + 10)
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    res = coco_map(path, dets)
    per, stats_ap = direct_coco(gt, dets)
    assert res["per_class"] == pytest.approx(per)
    assert res["per_class"]["toilet"] is None  # no ground truth: left out of the mean
    assert res["mAP"] == pytest.approx(np.mean([per["bus"], per["cat"]]))
    assert res["mAP"] == pytest.approx(stats_ap)  # equal-size categories: COCOeval's own summary agrees
    assert 0 < res["mAP"] < 100 and 0 <= res["mAP"] <= res["AP50"] <= 100
    sel = coco_map(gt, dets, category_names=["cat"])  # a dict works too; selection keeps per-class values
    assert sel["per_class"] == {"cat": pytest.approx(per["cat"])} and sel["mAP"] == pytest.approx(per["cat"])


def test_coco_map_reads_detections_from_a_path_and_leaves_the_list_alone(tmp_path):
    gt, dets = make_gt(), perturbed(make_gt())
    before = json.dumps(dets)
    (tmp_path / "d.json").write_text(before)
    assert coco_map(gt, tmp_path / "d.json") == coco_map(gt, dets)
    assert json.dumps(dets) == before


def test_empty_detections_give_zero():
    res = coco_map(make_gt(), [])
    assert res["mAP"] == 0.0 and res["AP50"] == 0.0
    assert res["per_class"] == {"bus": 0.0, "cat": 0.0, "toilet": None}


def test_perfect_answers_through_rows_and_codec_score_100():
    gt = make_gt(seed=3)
    for codec in (NORM, PIXELS):
        completions, metas = [], []
        for img in gt["images"]:
            for cid, name in CATS:
                boxes = tuple(
                    (x, y, x + w, y + h)
                    for a in gt["annotations"]
                    if a["image_id"] == img["id"] and a["category_id"] == cid
                    for x, y, w, h in [a["bbox"]]
                )
                rec = DetectionRecord(
                    image="",
                    image_id=img["id"],
                    width=img["width"],
                    height=img["height"],
                    category_id=cid,
                    category=name,
                    boxes=boxes,
                )
                row = to_row(rec, "detection", codec)
                completions.append([{"role": "assistant", "content": "<think>ok</think>" + row["solution"]}])
                metas.append(row["meta"])
        res = coco_map(gt, predictions_to_coco(completions, metas, codec), category_names=["bus", "cat"])
        assert res["mAP"] == pytest.approx(100.0), codec.name


def test_predictions_to_coco_drops_invalid_and_duplicates():
    meta = {"image_id": 5, "category_id": 2, "width": 500, "height": 200}
    answers = [
        "<answer>[{'Position': [100, 100, 300, 500], 'Confidence': 0.4}, {'Position': [100, 100, 300, 500], 'Confidence': 0.9},"
        " {'Position': [300, 0, 100, 10], 'Confidence': 0.5}, {'Position': [0, 0, 10, 10], 'Confidence': 'high'}]</answer>",
        "<answer>No Objects</answer>",
        "[{'Position': [0, 0, 500, 500], 'Confidence': 1}]",  # no answer block
        "<answer>[{'Position': [0, 0, 500</answer>",  # truncated
    ]
    out = predictions_to_coco(answers, [meta] * 4, NORM)
    assert out == [
        # a repeated box keeps its first occurrence's confidence (the shared parser, as official remove_duplicates)
        {"image_id": 5, "category_id": 2, "bbox": pytest.approx([50.0, 20.0, 100.0, 80.0]), "score": 0.4}
    ]


def test_coco_map_input_errors(tmp_path):
    gt = make_gt()
    with pytest.raises(DataError, match="absent from the ground truth"):
        coco_map(gt, [{"image_id": 999, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 1.0}])
    with pytest.raises(ConfigError, match="dog"):
        coco_map(gt, [], category_names=["dog"])
    with pytest.raises(DataError, match="missing.json"):
        coco_map(tmp_path / "missing.json", [])


# ---- LVIS --------------------------------------------------------------------------------------------------


def make_lvis() -> dict:
    gt = make_gt(n_images=6, seed=4)
    for img in gt["images"]:
        present = {a["category_id"] for a in gt["annotations"] if a["image_id"] == img["id"]}
        img["neg_category_ids"] = [c for c in (1, 2, 3) if c not in present and img["id"] % 2 == 0]
        img["not_exhaustive_category_ids"] = []
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        a["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
        a.pop("iscrowd")
    for c, freq in zip(gt["categories"], ["r", "c", "f"], strict=True):
        c["frequency"] = freq
        c["synset"] = c["name"]
    return gt


def direct_lvis(gt_path, dets) -> dict:
    from lvis import LVIS, LVISEval, LVISResults

    lvis_gt = LVIS(str(gt_path))
    ev = LVISEval(lvis_gt, LVISResults(lvis_gt, json.loads(json.dumps(dets)), max_dets=300), "bbox")
    ev.run()
    per = {}
    for k, cid in enumerate(ev.params.cat_ids):
        p = ev.eval["precision"][:, :, k, :]
        per[dict(CATS)[cid]] = float(np.mean(p[p > -1]) * 100) if (p > -1).any() else None
    return per


def test_lvis_map_agrees_with_lvis_api(tmp_path):
    gt = make_lvis()
    path = tmp_path / "lvis.json"
    path.write_text(json.dumps(gt))
    dets = perturbed(gt, seed=5)
    res = lvis_map(path, dets)  # also installs the numpy alias lvis-api needs before the direct run below
    per = direct_lvis(path, dets)
    assert res["per_class"] == pytest.approx(per)
    assert res["per_class"]["toilet"] is None
    assert res["mAP"] == pytest.approx(np.mean([per["bus"], per["cat"]]))
    assert 0 < res["mAP"] < 100
    assert lvis_map(gt, [])["per_class"] == {"bus": 0.0, "cat": 0.0, "toilet": None}


def test_lvis_map_is_federated():
    """A false positive counts only on images where the category is known absent (neg_category_ids)."""
    gt = make_lvis()
    anns = gt["annotations"]
    dets = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.5}
        for a in anns
    ]
    base = lvis_map(gt, dets, category_names=["bus", "cat"])
    assert base["mAP"] == pytest.approx(100.0)

    def with_fp(negative: bool) -> float:
        cid = 1
        imgs = [
            i
            for i in gt["images"]
            if (cid in i["neg_category_ids"]) == negative
            and not any(a["image_id"] == i["id"] and a["category_id"] == cid for a in anns)
        ]
        assert imgs, "fixture needs such an image"
        fp = {"image_id": imgs[0]["id"], "category_id": cid, "bbox": [0, 0, 30, 30], "score": 0.9}
        return lvis_map(gt, [*dets, fp], category_names=["bus"])["mAP"]

    assert with_fp(negative=False) == pytest.approx(100.0)  # unverified image: ignored
    assert with_fp(negative=True) < 100.0  # known-absent image: a false positive


# ---- classification ----------------------------------------------------------------------------------------

CLS_CASES = [  # (completion, label, strict, lenient)
    ("<think>x</think><answer>garden phlox</answer>", "garden phlox", True, True),
    ("<answer>Garden_Phlox </answer>", "garden phlox", True, True),
    ("<answer>Acura</answer>", "2012 Acura RL Sedan", False, True),  # brand only: the paper's hack
    ("<answer>737</answer>", "737-200", False, True),
    ("<answer>e</answer>", "rose", False, True),  # one letter
    ("<answer>a pink rose flower</answer>", "rose", False, True),  # superset answer
    ("<answer></answer>", "rose", False, False),  # empty answer: the paper counted it right
    ("rose", "rose", False, False),  # no answer block
    ("<answer>tulip</answer>", "<answer>rose</answer>", False, False),
    ("<answer>rose</answer>", "<answer>Rose</answer>", True, True),
]


@pytest.mark.parametrize("completion, label, strict, lenient", CLS_CASES)
def test_label_match_cases(completion, label, strict, lenient):
    from vrft.rewards.parse import extract_answer

    assert label_match(extract_answer(completion), label) == (strict, lenient)


def test_classification_accuracy_strict_vs_lenient():
    comps = [[{"role": "assistant", "content": c}] for c, *_ in CLS_CASES]
    res = classification_accuracy(comps, [lab for _, lab, *_ in CLS_CASES])
    n = len(CLS_CASES)
    assert res["accuracy"] == pytest.approx(100 * sum(c[2] for c in CLS_CASES) / n)
    assert res["accuracy_lenient"] == pytest.approx(100 * sum(c[3] for c in CLS_CASES) / n)
    assert res["no_answer"] == 1
    with pytest.raises(ValueError):
        classification_accuracy(comps, ["rose"])


def test_classification_accuracy_per_class():
    """Strict accuracy per label, the labels read from `<answer>` solutions or plain names."""
    comps = ["<answer>rose</answer>", "<answer>tulip</answer>", "<answer>rose</answer>", "no answer"]
    res = classification_accuracy(comps, ["rose", "<answer>rose</answer>", "tulip", "tulip"])
    assert res["per_class"] == {"rose": 50.0, "tulip": 0.0}


# ---- grounding ---------------------------------------------------------------------------------------------


def test_grounding_metrics_iou_and_failures():
    meta = {"width": 1000, "height": 1000, "box_abs": [0.0, 0.0, 100.0, 100.0]}  # codec is the identity here
    comps = [
        "<answer>(0,0),(100,100)</answer>",
        "<answer>(50,0),(150,100)</answer>",
        "<answer>no idea</answer>",
        "(0,0),(100,100)",
    ]
    assert grounding_ious(comps, [meta] * 4, NORM) == pytest.approx([1.0, 1 / 3, None, None])
    res = grounding_metrics(comps, [meta] * 4, NORM)
    assert res["mIoU"] == pytest.approx(100 * (1 + 1 / 3) / 4)
    assert res["AP50"] == pytest.approx(25.0) and res["no_box"] == 2


def test_grounding_decodes_with_the_codec():
    meta = {"width": 640, "height": 480, "box_abs": [64.0, 48.0, 320.0, 240.0]}
    for codec in (NORM, PIXELS):
        enc = codec.encode(meta["box_abs"], 640, 480)
        comp = f"<think>t</think><answer>({enc[0]},{enc[1]}),({enc[2]},{enc[3]})</answer>"
        assert grounding_metrics([comp], [meta], codec)["mIoU"] > 98


def test_polygon_rasterisation_area():
    m = polygons_to_mask([[(10, 10), (50, 10), (50, 50), (10, 50)]], width=80, height=60)
    assert m.shape == (60, 80) and abs(int(m.sum()) - 1600) <= 90
    assert polygons_to_mask([[1, 1, 2, 2]], 10, 10).sum() == 0  # fewer than 3 points


def test_mask_metrics_giou_and_ciou():
    polys = [[[0, 0, 40, 0, 40, 40, 0, 40]], [[0, 0, 10, 0, 10, 10, 0, 10]]]
    sizes = [(60, 50), (20, 20)]
    g0, g1 = (polygons_to_mask(p, w, h) for p, (w, h) in zip(polys, sizes, strict=True))
    half = g0.copy()
    half[:, 20:] = False  # keep the left half of the first mask
    preds = [mask_utils.encode(np.asfortranarray(half.astype(np.uint8))), np.zeros_like(g1)]
    res = mask_metrics(preds, polys, sizes)
    i0, u0 = half.sum(), g0.sum()
    assert res["gIoU"] == pytest.approx(100 * (i0 / u0 + 0.0) / 2)
    assert res["cIoU"] == pytest.approx(100 * i0 / (u0 + g1.sum()))
    assert mask_metrics([g0], [polys[0]], [sizes[0]]) == {"gIoU": 100.0, "cIoU": 100.0}
    assert mask_metrics([None], [[]], [(5, 5)])["gIoU"] == 100.0  # both empty
    with pytest.raises(ValueError, match="shape"):
        mask_metrics([np.zeros((3, 3))], [polys[0]], [sizes[0]])
