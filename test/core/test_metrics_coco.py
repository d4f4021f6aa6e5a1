"""COCO mask AP (seg_perception.metrics.coco) on hand-computed precision/recall cases."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from seg_perception.errors import InvalidFrameError
from seg_perception.metrics import encode_masks, instances_to_coco, labels_to_coco, mask_ap
from seg_perception.results import InstanceMasks

H, W = 120, 160


def _gt_two_objects() -> np.ndarray:
    gt = np.zeros((H, W), np.uint16)
    gt[20:60, 30:70] = 4  # 40 x 40 = 1600 px: "medium" (32² .. 96²)
    gt[70:100, 90:140] = 9  # 30 x 50 = 1500 px: medium
    return gt


def test_perfect_prediction_scores_one():
    gt = _gt_two_objects()
    r = mask_ap([InstanceMasks.from_label_image(gt)], [gt])
    assert r["AP"] == pytest.approx(1.0)
    assert r["AP50"] == pytest.approx(1.0)
    assert r["AP75"] == pytest.approx(1.0)
    assert r["APm"] == pytest.approx(1.0)
    assert np.isnan(r["APs"]) and np.isnan(r["APl"])  # no GT of that size
    assert r["AR1"] == pytest.approx(0.5)  # one detection per image finds one of two
    assert r["AR100"] == pytest.approx(1.0)
    assert (r["num_images"], r["num_gt"], r["num_pred"]) == (1, 2, 2)


def test_empty_prediction_scores_zero_and_empty_frames_are_nan():
    gt = _gt_two_objects()
    r = mask_ap([InstanceMasks.empty(H, W)], [gt])
    assert r["AP"] == 0.0 and r["AP50"] == 0.0 and r["AR100"] == 0.0
    nothing = mask_ap([InstanceMasks.empty(H, W)], [np.zeros((H, W), np.uint16)])
    assert np.isnan(nothing["AP"])  # COCO has nothing to score


def test_partial_overlap_passes_only_low_iou_thresholds():
    gt = np.zeros((H, W), np.uint16)
    gt[40:50, 40:50] = 1  # 100 px
    pred = np.zeros((1, H, W), bool)
    pred[0, 40:50, 40:46] = True  # 60 px inside the object ...
    pred[0, 40, 46:48] = True  # ... plus 2 more: IoU = 62 / 100
    r = mask_ap([InstanceMasks.from_masks(pred)], [gt])
    assert r["AP50"] == pytest.approx(1.0)
    assert r["AP75"] == pytest.approx(0.0)
    # Matched at IoU thresholds 0.50, 0.55, 0.60 of ten: AP = 3 / 10.
    assert r["AP"] == pytest.approx(0.3)


def test_false_positive_ranked_first_halves_precision():
    gt = _gt_two_objects()
    masks = np.zeros((2, H, W), bool)
    masks[0, 0:10, 0:10] = True  # false positive, higher score
    masks[1] = gt == 4  # finds one of the two objects
    r = mask_ap([InstanceMasks.from_masks(masks, scores=[0.9, 0.8])], [gt])
    # Ranked: FP then TP -> precision 0.5 at recall 0.5, nothing beyond recall 0.5.
    # COCO's 101 recall points 0.00..0.50 (51 of them) get interpolated precision 0.5.
    assert r["AP50"] == pytest.approx(51 * 0.5 / 101)
    assert r["AP"] == pytest.approx(51 * 0.5 / 101)  # the TP has IoU 1 at every threshold


def test_detections_are_ranked_across_images():
    gt1 = np.zeros((H, W), np.uint16)
    gt1[10:50, 10:50] = 1
    gt2 = np.zeros((H, W), np.uint16)  # no object in the second image
    fp = np.zeros((1, H, W), bool)
    fp[0, 60:100, 60:100] = True
    preds = [InstanceMasks.from_masks((gt1 == 1)[None], scores=[0.9]),
             InstanceMasks.from_masks(fp, scores=[0.95])]
    r = mask_ap(preds, [gt1, gt2])
    # Pooled ranking FP (0.95), TP (0.9): interpolated precision 0.5 at every recall.
    assert r["AP"] == pytest.approx(0.5)
    assert r["num_gt"] == 1 and r["num_pred"] == 2


def test_class_aware_needs_matching_class():
    gt_masks = InstanceMasks.from_masks((_gt_two_objects() == 4)[None], class_ids=[2],
                                        class_names=["cup"])
    pred = InstanceMasks.from_masks(gt_masks.masks, class_ids=[5], class_names=["bowl"])
    assert mask_ap([pred], [gt_masks])["AP"] == pytest.approx(1.0)  # class-agnostic default
    assert mask_ap([pred], [gt_masks], class_agnostic=False)["AP"] == pytest.approx(0.0)
    right = InstanceMasks.from_masks(gt_masks.masks, class_ids=[2], class_names=["cup"])
    assert mask_ap([right], [gt_masks], class_agnostic=False)["AP"] == pytest.approx(1.0)


def test_conversions_to_coco_dicts():
    from pycocotools import mask as mask_utils

    gt = _gt_two_objects()
    anns = labels_to_coco(gt, image_id=7, first_id=11)
    assert [a["id"] for a in anns] == [11, 12]
    assert all(a["image_id"] == 7 and a["category_id"] == 1 and a["iscrowd"] == 0
               for a in anns)
    assert anns[0]["area"] == 1600 and anns[0]["bbox"] == [30.0, 20.0, 40.0, 40.0]
    with warnings.catch_warnings():  # pycocotools' decode trips a numpy-2 copy= warning
        warnings.simplefilter("ignore", DeprecationWarning)
        decoded = mask_utils.decode(anns[1]["segmentation"]).astype(bool)
    np.testing.assert_array_equal(decoded, gt == 9)
    inst = InstanceMasks.from_label_image(gt)
    inst = InstanceMasks(inst.masks, np.array([0.3, 0.7], np.float32), np.array([0, 3]),
                         ("a", "b"), inst.boxes)
    dets = instances_to_coco(inst, image_id=2, class_agnostic=False)
    assert [d["category_id"] for d in dets] == [1, 4]
    assert [d["score"] for d in dets] == pytest.approx([0.3, 0.7])
    assert dets[1]["area"] == 1500 and dets[1]["bbox"] == [90.0, 70.0, 50.0, 30.0]
    assert encode_masks(np.zeros((0, H, W), bool)) == []


def test_bad_inputs_raise():
    gt = _gt_two_objects()
    with pytest.raises(ValueError, match="one of each per image"):
        mask_ap([InstanceMasks.empty(H, W)], [gt, gt])
    with pytest.raises(InvalidFrameError, match="differ in size"):
        mask_ap([InstanceMasks.empty(H, W + 1)], [gt])
    with pytest.raises(InvalidFrameError, match="label image"):
        labels_to_coco(gt.astype(np.float32), image_id=1)
