"""Score one frame: the pipeline's scene against the sample's ground truth.

The protocol decides which masks are scored (:func:`scored_masks`); the OSD metrics
work on label images, COCO AP on RLE lists (pooled over frames later), the 3D metrics
on one-to-one mask matches (:func:`score_objects`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..metrics.coco import instances_to_coco, labels_to_coco
from ..metrics.geometry3d import match_by_mask_iou, oriented_box_iou
from ..metrics.osd import osd_metrics, remove_segments_without_depth
from ..results import InstanceMasks, Scene
from .geometry3d import gt_box, pred_box, visible_centroids
from .records import ObjectResult
from .semantic import SemanticScorer
from .stats import nanmean

__all__ = ["FrameScore", "ScoredMasks", "score_frame", "score_objects", "scored_masks"]


class ScoredMasks(NamedTuple):
    """What the protocol scores of one frame.

    ``gt_labels`` / ``pred_labels``: label images for OSD (predicted segments with too
    little depth already removed under the standard protocol); ``ignore``: pixels left
    out of OSD and semantic scores (None = none); ``gt_masks`` / ``pred_masks``: mask
    stacks; ``pred_idx``: the predicted instances that are scored.
    """

    gt_labels: np.ndarray
    pred_labels: np.ndarray
    ignore: np.ndarray | None
    gt_masks: np.ndarray
    pred_masks: np.ndarray
    pred_idx: np.ndarray


@dataclass(frozen=True, eq=False)
class FrameScore:
    """One frame's scores: ``fields`` are the :class:`FrameResult` fields but ``ap`` and
    ``timings_ms``; ``gt_coco`` / ``dt_coco`` the scored masks as COCO RLE lists."""

    fields: dict[str, Any]
    objects: list[ObjectResult]
    gt_coco: list[dict[str, Any]]
    dt_coco: list[dict[str, Any]]
    size: tuple[int, int]


def scored_masks(sample: Any, scene: Scene, *, ignore_gt_without_depth: bool,
                 min_segment_depth: float) -> ScoredMasks:
    """The masks and label images the protocol scores (module docstring of
    :mod:`seg_perception.evaluation`)."""
    frame = sample.frame
    gt: InstanceMasks = sample.instances
    pred = scene.instances
    pixels = frame.height * frame.width
    # OSD on label images (the published protocol works on labels, not mask stacks).
    gt_labels = getattr(sample, "instance_labels", None)
    if gt_labels is None:
        gt_labels = gt.label_image()
    pred_labels = pred.label_image()
    if ignore_gt_without_depth:
        ignore = ~frame.valid
        gt_masks = gt.masks & frame.valid[None]
        pred_masks = pred.masks & frame.valid[None]
        pred_idx = np.flatnonzero(pred_masks.reshape(len(pred), pixels).any(axis=1))
    else:
        ignore = None
        gt_masks = gt.masks
        pred_labels = remove_segments_without_depth(pred_labels, frame.valid, min_segment_depth)
        # label_image writes instance i as i + 1: the surviving labels name the kept ones.
        kept = np.zeros(len(pred) + 1, bool)
        kept[pred_labels.ravel()] = True
        pred_idx = np.flatnonzero(kept[1:])
        pred_masks = pred.masks
    return ScoredMasks(gt_labels, pred_labels, ignore, gt_masks, pred_masks, pred_idx)


def score_objects(sample: Any, scene: Scene, index: int, gt_idx: np.ndarray,
                  gt_pixels: np.ndarray, pred_idx: np.ndarray, match: Any) -> list[ObjectResult]:
    """One :class:`ObjectResult` per scored GT object (``gt_idx``) of frame ``index``;
    ``match`` pairs rows of the scored prediction and GT stacks."""
    frame = sample.frame
    gt: InstanceMasks = sample.instances
    # 3D: compare with the GT visible-surface centroid (exact depth when the sample has it).
    depth_gt = getattr(sample, "depth_gt", None)
    depth = depth_gt if depth_gt is not None else frame.depth
    gt_centroids = visible_centroids(gt.masks[gt_idx], depth, frame.intrinsics)
    objects_by_index = {o.index: o for o in scene.objects}
    annotations = tuple(getattr(sample, "annotations", ()) or ())
    kinds = tuple(getattr(sample, "kinds", ()) or ())
    case_tags = tuple(getattr(sample, "case_tags", ()) or ())
    matched = {int(g): (int(p), float(iou)) for p, g, iou in
               zip(match.pred_indices, match.gt_indices, match.ious)}
    objects = []
    for k, gi in enumerate(gt_idx):
        ann = annotations[gi] if gi < len(annotations) else None
        tags = tuple(ann.get("tags", ())) if ann is not None else (
            () if annotations else case_tags)
        err = biou = math.nan
        iou = 0.0
        if k in matched:
            p, iou = matched[k]
            obj = objects_by_index.get(int(pred_idx[p]))
            if obj is not None and obj.geometry is not None:
                err = float(np.linalg.norm(np.asarray(obj.geometry.centroid, np.float64)
                                           - gt_centroids[k]))
            gbox, pbox = gt_box(ann), pred_box(obj)
            if gbox is not None and pbox is not None:
                biou = oriented_box_iou(pbox, gbox)
        objects.append(ObjectResult(
            frame=index, gt_index=int(gi), kind=kinds[gi] if gi < len(kinds) else "object",
            tags=tags, pixels=int(gt_pixels[gi]), matched=k in matched, mask_iou=iou,
            centroid_error_m=err, box_iou=biou))
    return objects


def score_frame(sample: Any, scene: Scene, index: int, name: str, sem: SemanticScorer, *,
                ignore_gt_without_depth: bool, min_segment_depth: float,
                match_iou: float) -> FrameScore:
    """OSD, COCO RLEs, 3D object scores and the semantic confusion of one frame."""
    frame = sample.frame
    gt: InstanceMasks = sample.instances
    pred = scene.instances
    s = scored_masks(sample, scene, ignore_gt_without_depth=ignore_gt_without_depth,
                     min_segment_depth=min_segment_depth)
    gt_pixels = s.gt_masks.reshape(len(gt), frame.height * frame.width).sum(axis=1)
    gt_idx = np.flatnonzero(gt_pixels > 0)
    r_osd = osd_metrics(s.pred_labels, s.gt_labels, ignore=s.ignore)

    gt_kept = InstanceMasks.from_masks(s.gt_masks[gt_idx])
    pred_kept = InstanceMasks(s.pred_masks[s.pred_idx], pred.scores[s.pred_idx],
                              pred.class_ids[s.pred_idx],
                              tuple(pred.class_names[i] for i in s.pred_idx),
                              pred.boxes[s.pred_idx])
    # 3D: match on the scored masks.
    match = match_by_mask_iou(pred_kept.masks, gt_kept.masks, min_iou=match_iou)
    objects = score_objects(sample, scene, index, gt_idx, gt_pixels, s.pred_idx, match)
    matched = [o for o in objects if o.matched]
    confusion = sem.confusion(scene.semantic, getattr(sample, "semantic", None), s.ignore)
    fields = {
        "index": index, "name": name,
        "case_tags": tuple(getattr(sample, "case_tags", ()) or ()),
        "num_gt": int(gt_idx.size), "num_pred": int(s.pred_idx.size), "num_matched": len(match),
        "osd": r_osd, "mean_centroid_error_m": nanmean(o.centroid_error_m for o in matched),
        "mean_box_iou": nanmean(o.box_iou for o in matched), "semantic_confusion": confusion}
    return FrameScore(fields, objects, labels_to_coco(gt_kept, 0), instances_to_coco(pred_kept, 0),
                      (frame.height, frame.width))
