"""Class-agnostic COCO mask AP of a set of frames (pycocotools, imported when used)."""
from __future__ import annotations

import contextlib
import io
import math
import warnings
from typing import Any, Sequence

__all__ = ["AP_KEYS", "coco_ap"]

AP_KEYS = ("AP", "AP50", "AP75", "AR100")
_COCO_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100")


def coco_ap(gt_frames: Sequence[list[dict[str, Any]]], dt_frames: Sequence[list[dict[str, Any]]],
           sizes: Sequence[tuple[int, int]]) -> dict[str, float]:
    """Class-agnostic COCO ``segm`` stats of frames given as per-frame RLE annotation lists
    (from :func:`labels_to_coco` / :func:`instances_to_coco`; ids are reassigned here)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, gts, dts = [], [], []
    for image_id, (g, d, (h, w)) in enumerate(zip(gt_frames, dt_frames, sizes), start=1):
        images.append({"id": image_id, "height": int(h), "width": int(w)})
        gts += [{**a, "id": len(gts) + i + 1, "image_id": image_id} for i, a in enumerate(g)]
        dts += [{**a, "id": len(dts) + i + 1, "image_id": image_id, "iscrowd": 0}
                for i, a in enumerate(d)]
    nan = {k: math.nan for k in AP_KEYS}
    if not gts:  # COCO scores nothing without GT objects
        return nan
    categories = [{"id": 1, "name": "object"}]
    coco_gt, coco_dt = COCO(), COCO()
    coco_gt.dataset = {"images": images, "annotations": gts, "categories": categories}
    coco_dt.dataset = {"images": images, "annotations": dts, "categories": categories}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycocotools' NumPy 2 notices
        coco_gt.createIndex()
        coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, iouType="segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = {k: (math.nan if v < 0 else float(v)) for k, v in zip(_COCO_STATS, ev.stats)}
    return {k: stats[k] for k in AP_KEYS}
