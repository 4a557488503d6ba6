"""Stand-in datasets: small, seeded generators that write each real on-disk format, so tests and synthetic
task configs exercise the real readers.

Images are PIL-drawn coloured shapes with exact boxes (one colour/shape style per class, distinct for up to 48
classes; a class named like "red circle" is drawn as one); each writer is deterministic for its seed and takes
well under 2 s at test sizes. Every writer returns what the matching reader takes. The signatures are stable:

    write_coco(root, n_images, categories, seed, split="val2017") -> (ann_json, image_dir)
        root/annotations/instances_<split>.json + root/<split>/<id:012d>.jpg
            -> vrft.data.coco.read_detection
    write_lvis(root, n_images, categories, seed, split="val") -> (ann_json, image_dir)
        root/annotations/lvis_v1_<split>.json + root/<split>2017/*.jpg, named by coco_url
            -> read_detection(..., kind="lvis")
    write_coop_split(root, classes, per_class, seed, name="OxfordPets") -> root
        root/split_zhou_<name>.json + its image folder (CoOp's: images/, jpg/, ...)
            -> read_classification(root, "coop_split", split)
    write_fgvc_aircraft(root, variants, per_class, seed) -> root
        root/data/{images/*.jpg, variants.txt, images_variant_{train,val,test,trainval}.txt}
            -> read_classification(root, "fgvc_aircraft", split)
    write_reasonseg(root, n, seed) -> root
        root/<name>.jpg + root/<name>.json
            -> vrft.data.reasonseg.read_reasonseg
    write_virft_hf(root, rows, fmt="disk"|"parquet", split="train") -> root
        rows = [{"image": PIL.Image | path, "problem": str, "solution": str}]
            -> vrft.data.virft_hf.read_virft

`per_class` is an int (images per class in each of train, val, test) or a dict per split. Left out: realistic
images, crowd boxes, and the datasets' other files (masks, Flowers .mat labels, Cars devkit).
"""

from vrft.data.standins.classification import write_coop_split, write_fgvc_aircraft
from vrft.data.standins.detection import write_coco, write_lvis
from vrft.data.standins.grounding import write_reasonseg
from vrft.data.standins.virft import write_virft_hf

__all__ = [
    "write_coco",
    "write_coop_split",
    "write_fgvc_aircraft",
    "write_lvis",
    "write_reasonseg",
    "write_virft_hf",
]
