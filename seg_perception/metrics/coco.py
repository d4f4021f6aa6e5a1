"""COCO mask AP of instance predictions, evaluated in memory with pycocotools.

Predictions are :class:`~seg_perception.results.InstanceMasks` (one per image);
ground truth is an instance label image (``0`` = background) or an
``InstanceMasks`` per image. Masks are run-length encoded in memory
(``pycocotools.mask.encode``), so nothing touches the disk. pycocotools is
imported only when a function here runs.

Example:
    >>> import numpy as np
    >>> from seg_perception.results import InstanceMasks
    >>> gt = np.zeros((120, 160), np.uint16); gt[20:60, 30:70] = 1
    >>> round(mask_ap([InstanceMasks.from_label_image(gt)], [gt])["AP"], 3)
    1.0
"""
from __future__ import annotations

import contextlib
import io
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidFrameError
from ..results import InstanceMasks

__all__ = ["encode_masks", "instances_to_coco", "labels_to_coco", "mask_ap"]

# COCOeval.stats order for iouType="segm".
_STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100")


def encode_masks(masks: np.ndarray) -> list[dict[str, Any]]:
    """COCO compressed RLEs (``{"size": [H, W], "counts": bytes}``) of ``bool[N, H, W]`` masks."""
    from pycocotools import mask as mask_utils

    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        raise InvalidFrameError(f"masks must be bool[N, H, W], got shape {masks.shape}")
    if masks.shape[0] == 0:
        return []
    # pycocotools wants Fortran-ordered uint8[H, W, N].
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    return list(rles)


def _rle_stats(rles: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    from pycocotools import mask as mask_utils

    if not rles:
        return np.zeros(0), np.zeros((0, 4))
    return (np.asarray(mask_utils.area(rles), np.float64).reshape(-1),
            np.asarray(mask_utils.toBbox(rles), np.float64).reshape(-1, 4))


def instances_to_coco(instances: InstanceMasks, image_id: int, *,
                      class_agnostic: bool = True) -> list[dict[str, Any]]:
    """COCO result dicts (detections) of one image's instances.

    Each dict has ``image_id``, ``category_id`` (1 when ``class_agnostic``, else
    ``class_id + 1``: COCO reserves 0), ``segmentation`` (RLE), ``score``, ``area`` (mask
    pixels) and ``bbox`` (``[x, y, w, h]`` pixels of the mask).
    """
    rles = encode_masks(instances.masks)
    areas, boxes = _rle_stats(rles)
    return [{"image_id": int(image_id),
             "category_id": 1 if class_agnostic else int(instances.class_ids[i]) + 1,
             "segmentation": rle, "score": float(instances.scores[i]),
             "area": float(areas[i]), "bbox": [float(v) for v in boxes[i]]}
            for i, rle in enumerate(rles)]


def labels_to_coco(labels: np.ndarray | InstanceMasks, image_id: int, *, first_id: int = 1,
                   class_agnostic: bool = True) -> list[dict[str, Any]]:
    """COCO ground-truth annotations of one image.

    Args:
        labels: integer ``[H, W]`` instance label image (0 = background, one annotation per
            other value, category 1), or an :class:`InstanceMasks` (category ``class_id + 1``
            unless ``class_agnostic``).
        image_id: the image's id.
        first_id: annotation id of the first object (ids must be unique over the dataset).
        class_agnostic: give every annotation category 1.
    """
    if isinstance(labels, InstanceMasks):
        masks, class_ids = labels.masks, np.asarray(labels.class_ids)
    else:
        labels = np.asarray(labels)
        if labels.ndim != 2 or not (np.issubdtype(labels.dtype, np.integer)
                                    or labels.dtype == bool):
            raise InvalidFrameError(f"ground truth must be an integer label image [H, W], got "
                                    f"{labels.dtype}{list(labels.shape)}; or pass InstanceMasks")
        ids = np.unique(labels)
        ids = ids[ids != 0]
        masks = labels[None, :, :] == ids[:, None, None]
        class_ids = np.zeros(ids.size, np.int32)
    rles = encode_masks(masks)
    areas, boxes = _rle_stats(rles)
    return [{"id": first_id + i, "image_id": int(image_id),
             "category_id": 1 if class_agnostic else int(class_ids[i]) + 1,
             "segmentation": rle, "area": float(areas[i]),
             "bbox": [float(v) for v in boxes[i]], "iscrowd": 0}
            for i, rle in enumerate(rles)]


def mask_ap(predictions: Sequence[InstanceMasks],
            ground_truth: Sequence[np.ndarray | InstanceMasks], *,
            class_agnostic: bool = True) -> dict[str, float]:
    """COCO segmentation AP / AR over a set of images (``COCOeval(iouType="segm")``).

    Args:
        predictions: one :class:`InstanceMasks` per image (scores rank the detections).
        ground_truth: per image, an integer label image ``[H, W]`` (0 = background) or an
            :class:`InstanceMasks`, in the same pixel grid as the prediction.
        class_agnostic: evaluate every instance as one category "object" (the unseen-object
            setting); otherwise a match also needs equal ``class_ids``.

    Returns:
        Fractions in ``[0, 1]``: ``AP`` (mean over IoU 0.50:0.05:0.95), ``AP50``, ``AP75``,
        ``APs``/``APm``/``APl`` (areas < 32², 32²..96², > 96² pixels), ``AR1``, ``AR10``,
        ``AR100`` (max detections per image), NaN where COCO has nothing to score (e.g. no
        GT object in an area range); plus ``num_images``, ``num_gt``, ``num_pred``.
        COCO's limits apply: at most 100 detections per image count.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    predictions, ground_truth = list(predictions), list(ground_truth)
    if len(predictions) != len(ground_truth):
        raise ValueError(f"mask_ap got {len(predictions)} predictions but {len(ground_truth)} "
                         "ground-truth images; pass one of each per image")
    if not predictions:
        raise ValueError("mask_ap needs at least one image")

    images, gt_anns, dt_anns = [], [], []
    for image_id, (pred, gt) in enumerate(zip(predictions, ground_truth), start=1):
        gt_shape = gt.shape if isinstance(gt, InstanceMasks) else np.shape(gt)[:2]
        if tuple(pred.shape) != tuple(gt_shape):
            raise InvalidFrameError(f"image {image_id - 1}: prediction {pred.shape} and ground "
                                    f"truth {tuple(gt_shape)} differ in size")
        h, w = pred.shape
        images.append({"id": image_id, "height": int(h), "width": int(w)})
        gt_anns += labels_to_coco(gt, image_id, first_id=len(gt_anns) + 1,
                                  class_agnostic=class_agnostic)
        dt_anns += instances_to_coco(pred, image_id, class_agnostic=class_agnostic)
    for i, ann in enumerate(dt_anns, start=1):
        ann["id"], ann["iscrowd"] = i, 0
    cat_ids = sorted({a["category_id"] for a in gt_anns + dt_anns} | {1})
    categories = [{"id": c, "name": "object" if class_agnostic else str(c - 1)} for c in cat_ids]

    coco_gt, coco_dt = COCO(), COCO()
    coco_gt.dataset = {"images": images, "annotations": gt_anns, "categories": categories}
    coco_dt.dataset = {"images": images, "annotations": dt_anns, "categories": categories}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco_gt.createIndex()
        coco_dt.createIndex()
        evaluator = COCOeval(coco_gt, coco_dt, iouType="segm")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    out = {name: (float("nan") if value < 0 else float(value))
           for name, value in zip(_STAT_NAMES, evaluator.stats)}
    out.update(num_images=float(len(images)), num_gt=float(len(gt_anns)),
               num_pred=float(len(dt_anns)))
    return out
