"""Evaluation metrics: classification accuracy, COCO/LVIS detection AP, grounding box and mask IoU.

Every metric reads model answers through the rewards' parser, so evaluation and training cannot drift.
Left out here: the inference loop and the evaluate command.
"""

from vrft.evaluation.classification import classification_accuracy, label_match
from vrft.evaluation.detection import coco_map, lvis_map, predictions_to_coco
from vrft.evaluation.grounding import grounding_ious, grounding_metrics, mask_metrics, polygons_to_mask

__all__ = [
    "classification_accuracy",
    "coco_map",
    "grounding_ious",
    "grounding_metrics",
    "label_match",
    "lvis_map",
    "mask_metrics",
    "polygons_to_mask",
    "predictions_to_coco",
]
