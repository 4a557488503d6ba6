"""The synthetic world writer: real formats read by the real readers, exact boxes, determinism, cache reuse."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vrft.config import SplitCfg, TaskCfg
from vrft.data.classification import read_classification
from vrft.data.coco import read_detection
from vrft.data.reasonseg import read_reasonseg
from vrft.data.virft_hf import read_virft
from vrft.errors import ConfigError
from vrft.rewards.detection import gt_boxes
from vrft.synthetic import world_dir, world_spec, world_task
from vrft.synthetic.scenes import BACKDROP, light, make_scene, render
from vrft.synthetic.world import spec_of

SMALL = {
    "detection": {"base_train": 12, "base_test": 6, "novel_train": 12, "novel_test": 6},
    "classification": {
        "base_train": 2,
        "base_val": 1,
        "base_test": 1,
        "all_train": 3,
        "all_val": 1,
        "all_test": 2,
    },
    "grounding": {"base_train": 6, "base_test": 3, "novel_train": 6, "novel_test": 4},
}


def task(kind: str, train: SplitCfg, test: SplitCfg, prompt: str = "detection_short", **world) -> TaskCfg:
    block = {"kind": kind, "splits": SMALL[kind], "categories": "novel", **world}
    return TaskCfg(name=f"t_{kind}", family=kind, prompt=prompt, synthetic=block, train=train, test=test)


def det_task(**world) -> TaskCfg:
    return task("detection", SplitCfg("coco", "novel_train"), SplitCfg("coco", "novel_test"), **world)


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_detection_splits_are_coco_with_exact_grid_boxes(tmp_path):
    t = world_task(det_task(), tmp_path)
    spec, _ = spec_of(t.synthetic)
    assert t.categories == list(spec.novel) == t.eval_categories
    records = read_detection(t.test.path, t.test.images, t.categories, query="all")
    assert len(records) == SMALL["detection"]["novel_test"] * len(spec.novel)
    assert any(r.boxes for r in records) and any(not r.boxes for r in records)
    for r in records:
        img = np.asarray(Image.open(r.image).convert("RGB")).astype(int)
        assert img.shape == (spec.image_size, spec.image_size, 3)
        backdrop = np.array(BACKDROP) * light(spec.image_size)
        for x1, y1, x2, y2 in r.boxes:
            assert all(v % spec.cell == 0 for v in (x1, y1, x2, y2))
            # the object (what differs from the lit backdrop) reaches all four edges of its box
            sl = np.s_[int(y1) : int(y2), int(x1) : int(x2)]
            hit = np.abs(img[sl] - backdrop[sl]).sum(-1) > 30
            assert hit[0].any() and hit[-1].any() and hit[:, 0].any() and hit[:, -1].any()


def test_novel_splits_hold_novel_objects_and_base_splits_none(tmp_path):
    t = world_task(
        task("detection", SplitCfg("coco", "base_train"), SplitCfg("coco", "novel_test")), tmp_path
    )
    spec, _ = spec_of(t.synthetic)
    base = read_detection(t.train.path, t.train.images, None, query="gt")
    assert {r.category for r in base} <= set(spec.base)
    novel = read_detection(t.test.path, t.test.images, list(spec.novel), query="gt")
    assert len({r.image_id for r in novel}) == SMALL["detection"]["novel_test"]


def test_sft_rows_are_virft_rows_with_positives_and_negatives(tmp_path):
    t = world_task(task("detection", SplitCfg("virft", "sft"), SplitCfg("coco", "base_test")), tmp_path)
    rows = read_virft(t.train.path, t.train.split)
    solutions = [rows[i]["solution"] for i in range(len(rows))]
    negatives = sum(s == "<answer>No Objects</answer>" for s in solutions)
    assert 0 < negatives < len(rows)
    assert all("Detect all objects" in rows[i]["problem"] for i in range(len(rows)))
    boxes = [b for s in solutions for b in gt_boxes(s)]
    assert boxes and all(v in {0, 250, 500, 750, 1000} for b in boxes for v in b)


def test_scene_thought_rows_name_the_images_objects_before_the_same_answers(tmp_path):
    """`thought: scene`: each SFT solution starts with the image's objects in reading order, so the queried
    category is listed exactly where the answer boxes it (base rows) and the answers are those of `none`."""
    import re

    from vrft.data.records import DetectionRecord
    from vrft.synthetic.detection import scene_thought

    split = (SplitCfg("virft", "sft"), SplitCfg("coco", "base_test"))
    plain = read_virft(*_sft_path(world_task(task("detection", *split), tmp_path / "a")))
    scene = read_virft(*_sft_path(world_task(task("detection", *split, thought="scene"), tmp_path / "b")))
    assert len(plain) == len(scene)
    for i in range(len(scene)):
        thought, answer = re.fullmatch(r"<think>(.*)</think>(<answer>.*)", scene[i]["solution"]).groups()
        named = thought.split(", ")
        asked = re.search(r"category '(.+)'", scene[i]["problem"]).group(1)
        assert answer == plain[i]["solution"] and 1 <= len(named) <= 3  # WorldSpec.objects: (1, 3)
        assert (asked in named) == (answer != "<answer>No Objects</answer>")
    # reading order (top row left to right, then the next row), neither column-major nor alphabetical
    cells = (("a y", (0, 64, 64, 128)), ("c z", (64, 0, 128, 64)), ("b x", (0, 0, 64, 64)))
    three = [DetectionRecord(None, 1, 128, 128, 0, c, (b,)) for c, b in cells]
    assert scene_thought(three) == "<think>b x, c z, a y</think>"
    # the default world's hash from before the key existed
    assert world_spec({"thought": "none"}).short_hash() == "05f709d580"
    assert world_spec({"thought": "scene"}).short_hash() != world_spec({}).short_hash()
    with pytest.raises(ConfigError, match="task.synthetic.thought"):
        world_spec({"thought": "caption"})
    alone = {"colors": ["red", "green"], "shapes": ["circle", "square"], "thought": "scene"}
    with pytest.raises(ConfigError, match="task.synthetic.thought='scene' is invalid: scene needs a base"):
        world_spec({**alone, "novel": ["red circle", "red square", "green circle"]})  # green square is alone
    with pytest.raises(ConfigError, match="task.synthetic.novel=.*is invalid"):  # checked before its stand-in
        world_spec({"novel": ["redtriangle"], "thought": "scene"})


@pytest.mark.parametrize("kind", ["classification", "grounding"])
def test_a_scene_thought_outside_detection_is_a_config_error(kind):
    """Only detection rows carry a scene thought, so asking another kind of world for one fails at the edge
    instead of writing the same rows as `none` under another hash."""
    assert world_spec({"kind": kind}).thought == "none"
    with pytest.raises(
        ConfigError, match="task.synthetic.thought='scene' is invalid: scene applies to detection"
    ):
        world_spec({"kind": kind, "thought": "scene"})


def test_scene_rows_name_a_novel_object_right_in_the_named_share_and_answer_what_they_saw(tmp_path):
    """`thought: scene` with novel scenes in the base split: a `novel_named` share of the images holding a novel
    object name it right; the others name it as its stand-in base category (same colour), and every answer about
    that image follows the thought: the novel category is "No Objects", the stand-in gets the novel object's box."""
    import re

    from vrft.synthetic.detection import seen_objects, stand_in

    world = {"novel_in_base": 8, "novel_named": 0.25, "thought": "scene"}
    t = world_task(
        task("detection", SplitCfg("coco", "base_train"), SplitCfg("coco", "base_test"), **world), tmp_path
    )
    spec = spec_of(t.synthetic)[0]
    truth = read_detection(t.train.path, t.train.images, spec.categories)
    seen = seen_objects(spec, Path(t.train.path), Path(t.train.images))
    novel_images = sorted({r.image_id for r in truth if r.category in spec.novel})
    named = [i for i in novel_images if any(r.category in spec.novel for r in seen[i])]
    assert len(named) == int(len(novel_images) * 0.25) and len(novel_images) == 8 * len(spec.novel)
    for r in truth:
        as_seen = [s for s in seen[r.image_id] if r.boxes == s.boxes]
        want = (
            r.category if r.image_id in named or r.category not in spec.novel else stand_in(spec, r.category)
        )
        assert [s.category for s in as_seen] == [want]
    assert stand_in(spec, "red triangle") == "red circle" and stand_in(spec, "blue square") == "blue circle"
    rows = read_virft(
        *_sft_path(
            world_task(
                task("detection", SplitCfg("virft", "sft"), SplitCfg("coco", "base_test"), **world), tmp_path
            )
        )
    )
    asked_novel = 0
    for row in rows:  # every answer, novel queries included, boxes what the thought names and only that
        thought, answer = re.fullmatch(r"<think>(.*)</think>(<answer>.*)", row["solution"]).groups()
        asked = re.search(r"category '(.+)'", row["problem"]).group(1)
        assert (asked in thought.split(", ")) == (answer != "<answer>No Objects</answer>")
        asked_novel += asked in spec.novel
    assert asked_novel > 0


def _sft_path(t: TaskCfg) -> tuple[str, str]:
    return t.train.path, t.train.split


def test_classification_and_grounding_formats(tmp_path):
    cls = world_task(
        task(
            "classification",
            SplitCfg("coop_split", "all", split="train"),
            SplitCfg("coop_split", "all", split="test"),
            prompt="classification_short",
        ),
        tmp_path,
    )
    recs = read_classification(cls.train.path, "coop_split", "train")
    spec, _ = spec_of(cls.synthetic)
    assert sorted({r.label for r in recs}) == sorted(spec.categories)
    assert len(recs) == SMALL["classification"]["all_train"] * len(spec.categories)
    grd = world_task(
        task(
            "grounding",
            SplitCfg("reasonseg", "novel_train"),
            SplitCfg("reasonseg", "novel_test"),
            prompt="grounding_short",
        ),
        tmp_path,
    )
    items = read_reasonseg(grd.test.path)
    assert len(items) == SMALL["grounding"]["novel_test"]
    novel = world_spec({"kind": "grounding"}).novel
    for r in items:
        assert any(n in r.instruction for n in novel)
        assert all(v % 28 == 0 for v in r.box)


def test_world_is_deterministic_and_reused(tmp_path):
    a = world_task(det_task(), tmp_path / "a")
    b = world_task(det_task(), tmp_path / "b")
    folder_a, folder_b = Path(a.test.path).parents[1], Path(b.test.path).parents[1]
    assert folder_a.name == folder_b.name and tree_digest(folder_a) == tree_digest(folder_b)
    stamp = Path(a.test.path).stat().st_mtime_ns
    again = world_task(det_task(), tmp_path / "a")
    assert again.test.path == a.test.path and Path(a.test.path).stat().st_mtime_ns == stamp


@pytest.mark.parametrize("change", [{"seed": 1}, {"grid": 8}, {"lighting": "flat"}, {"objects": [1, 2]}])
def test_a_recipe_change_writes_a_new_world(tmp_path, change):
    spec, _ = spec_of(det_task().synthetic)
    changed, _ = spec_of(det_task(**change).synthetic)
    assert world_dir(spec, tmp_path) != world_dir(changed, tmp_path)


def test_task_keys_do_not_change_the_world(tmp_path):
    spec, keys = spec_of({**det_task().synthetic, "categories": "base", "gate": 0.7})
    assert keys == {"categories": "base", "gate": 0.7}
    assert world_dir(spec, tmp_path) == world_dir(spec_of(det_task().synthetic)[0], tmp_path)


def test_scenes_never_overlap_and_same_colours_never_touch():
    import random

    spec = world_spec({"objects": [3, 5], "splits": {}})
    rng = random.Random(0)
    for _ in range(200):
        objs = make_scene(spec, rng, spec.categories, "blue square")
        assert objs[0].category == "blue square"
        for i, a in enumerate(objs):
            for b in objs[i + 1 :]:
                gap = int(a.color == b.color)
                ax1, ay1, ax2, ay2 = a.cells
                bx1, by1, bx2, by2 = b.cells
                assert not (ax1 < bx2 + gap and bx1 < ax2 + gap and ay1 < by2 + gap and by1 < ay2 + gap)
    assert render(spec, objs, rng).size == (spec.image_size, spec.image_size)


@pytest.mark.parametrize(
    "block, key",
    [
        ({"colors": ["mauve"]}, "colors"),
        ({"novel": ["pink circle"]}, "novel"),
        ({"grid": 5}, "grid"),
        ({"bogus": 1}, "bogus"),
        ({"kind": "video"}, "kind"),
    ],
)
def test_bad_world_settings_name_the_key(block, key):
    with pytest.raises(ConfigError, match=f"task.synthetic.{key}"):
        world_spec(block)


def test_unknown_world_split_is_refused(tmp_path):
    bad = dataclasses.replace(det_task(), test=SplitCfg("coco", "nonsense"))
    with pytest.raises(ConfigError, match="nonsense"):
        world_task(bad, tmp_path)


def test_base_split_names_a_share_of_the_novel_images_and_the_rest_coarsely(tmp_path):
    """`novel_in_base` images of each novel class join the base training split; `novel_named` of them carry the
    class name and the rest the coarse "<colour> shape"; held-out base splits hold base classes only."""
    world = {"novel_in_base": 5, "novel_named": 0.4}
    cls = world_task(
        task(
            "classification",
            SplitCfg("coop_split", "base", split="train"),
            SplitCfg("coop_split", "base", split="test"),
            prompt="classification_short",
            **world,
        ),
        tmp_path,
    )
    spec, _ = spec_of(cls.synthetic)
    train = read_classification(cls.train.path, "coop_split", "train")
    for novel in spec.novel:
        mine = [r for r in train if Path(r.image).name.startswith(novel.replace(" ", "_") + "_")]
        names = sorted(r.label for r in mine)
        coarse = f"{novel.split()[0]} shape"
        assert names == sorted([novel] * 2 + [coarse] * 3)
    base_named = [r for r in train if r.label in spec.base]
    assert len(base_named) == SMALL["classification"]["base_train"] * len(spec.base)
    test = read_classification(cls.test.path, "coop_split", "test")
    assert {r.label for r in test} == set(spec.base)


def test_novel_named_outside_0_1_is_refused():
    with pytest.raises(ConfigError, match="task.synthetic.novel_named"):
        world_spec({"kind": "classification", "novel_named": 1.5})


def test_base_split_asks_about_novel_categories_with_a_weak_prior(tmp_path):
    """With `novel_in_base`, `base_train` adds scenes of each novel category (the base scenes unchanged) and the
    SFT rows ask about novel categories: present ones with their boxes; absent ones "No Objects" in a
    `novel_named` share, otherwise the boxes of the image's look-alikes (sharing the colour or the shape)."""
    from vrft.synthetic.detection import novel_queries

    def base_train(folder, **world):
        t = world_task(
            task("detection", SplitCfg("coco", "base_train"), SplitCfg("coco", "base_test"), **world), folder
        )
        return t, spec_of(t.synthetic)[0]

    plain, _ = base_train(tmp_path / "plain")
    rare, spec = base_train(tmp_path / "rare", novel_in_base=6, novel_named=0.25)
    n_base = SMALL["detection"]["base_train"]
    old = read_detection(plain.train.path, plain.train.images, spec.categories, query="gt")
    new = read_detection(rare.train.path, rare.train.images, spec.categories, query="gt")
    assert [(r.image_id, r.category, r.boxes) for r in new if r.image_id <= n_base] == [
        (r.image_id, r.category, r.boxes) for r in old
    ]
    assert {r.category for r in new if r.image_id > n_base} >= set(spec.novel)
    truth = {(r.image_id, r.category): r.boxes for r in new}
    queries = novel_queries(spec, Path(rare.train.path), Path(rare.train.images))
    assert {q.category for q in queries} <= set(spec.novel)
    absent = [q for q in queries if (q.image_id, q.category) not in truth]
    present = [q for q in queries if (q.image_id, q.category) in truth]
    assert present and all(q.boxes == truth[(q.image_id, q.category)] for q in present)
    named = [q for q in absent if not q.boxes]
    assert len(named) == int(len(absent) * 0.25)
    for q in [q for q in absent if q.boxes]:
        colour, shape = q.category.split()
        image = {c: bs for (i, c), bs in truth.items() if i == q.image_id}
        alike = {b for c, bs in image.items() if colour in c or shape in c for b in bs}
        assert set(q.boxes) == (alike or {b for bs in image.values() for b in bs})
    assert not novel_queries(spec_of(plain.synthetic)[0], Path(plain.train.path), Path(plain.train.images))


def test_confuse_alike_rejects_where_no_look_alike_is_in_the_image(tmp_path):
    """`confuse: alike`: an absent novel category is answered with other boxes only where an object sharing its
    colour or shape is in the image; without one it is always "No Objects". The default leaves world names as
    they were."""
    from vrft.synthetic.detection import novel_queries

    world = {"novel_in_base": 6, "novel_named": 0.0, "confuse": "alike"}
    t = world_task(
        task("detection", SplitCfg("coco", "base_train"), SplitCfg("coco", "base_test"), **world), tmp_path
    )
    spec = spec_of(t.synthetic)[0]
    truth = {
        (r.image_id, r.category): r.boxes
        for r in read_detection(t.train.path, t.train.images, spec.categories, query="gt")
    }
    absent = [
        q
        for q in novel_queries(spec, Path(t.train.path), Path(t.train.images))
        if (q.image_id, q.category) not in truth
    ]
    kinds = set()
    for q in absent:
        colour, shape = q.category.split()
        alike = any(i == q.image_id and (colour in c or shape in c) for i, c in truth)
        assert bool(q.boxes) == alike
        kinds.add(alike)
    assert kinds == {True, False}
    assert world_spec({"confuse": "any"}).short_hash() == world_spec({}).short_hash()
    assert world_spec({"confuse": "alike"}).short_hash() != world_spec({}).short_hash()
    with pytest.raises(ConfigError, match="task.synthetic.confuse"):
        world_spec({"confuse": "some"})
