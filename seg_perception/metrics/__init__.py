"""Evaluation metrics: unseen-object F-measures, COCO mask AP, semantic IoU, 3D errors, latency.

Everything here takes numpy arrays (label images, masks, boxes in metres) and
returns plain values or frozen dataclasses. scipy is imported when a metric
needs it, pycocotools only by the functions of :mod:`.coco`.

* :mod:`.osd` -- overlap / boundary P/R/F of the OSD / OCID literature (UOIS, UCN).
* :mod:`.coco` -- COCO mask AP / AR, in memory.
* :mod:`.semantic` -- confusion matrix, per-class IoU, mIoU.
* :mod:`.geometry3d` -- centroid error, exact oriented-box IoU, mask-IoU matching.
* :mod:`.timing` -- per-stage timer and latency percentiles.
"""
from __future__ import annotations

from .coco import encode_masks, instances_to_coco, labels_to_coco, mask_ap
from .geometry3d import (
    MaskMatching,
    Object3DResult,
    OrientedBox3D,
    box_intersection_volume,
    centroid_error,
    evaluate_objects_3d,
    mask_iou_matrix,
    match_by_mask_iou,
    oriented_box_iou,
)
from .osd import OSDResult, aggregate_osd, boundary_map, osd_metrics
from .semantic import (
    SemanticResult,
    confusion_matrix,
    mean_iou,
    per_class_iou,
    pool_semantic,
    semantic_metrics,
)
from .timing import StageTimer, latency_summary

__all__ = [
    "MaskMatching",
    "OSDResult",
    "Object3DResult",
    "OrientedBox3D",
    "SemanticResult",
    "StageTimer",
    "aggregate_osd",
    "boundary_map",
    "box_intersection_volume",
    "centroid_error",
    "confusion_matrix",
    "encode_masks",
    "evaluate_objects_3d",
    "instances_to_coco",
    "labels_to_coco",
    "latency_summary",
    "mask_ap",
    "mask_iou_matrix",
    "match_by_mask_iou",
    "mean_iou",
    "oriented_box_iou",
    "osd_metrics",
    "per_class_iou",
    "pool_semantic",
    "semantic_metrics",
]
