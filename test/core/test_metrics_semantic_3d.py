"""Semantic IoU, 3D box IoU / centroid error / mask matching, and latency timing metrics."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

from seg_perception.errors import InvalidFrameError
from seg_perception.metrics import (
    OrientedBox3D,
    SemanticResult,
    StageTimer,
    box_intersection_volume,
    centroid_error,
    confusion_matrix,
    evaluate_objects_3d,
    latency_summary,
    mask_iou_matrix,
    match_by_mask_iou,
    mean_iou,
    oriented_box_iou,
    per_class_iou,
    pool_semantic,
    semantic_metrics,
)
from seg_perception.results import InstanceMasks, ObjectGeometry


def _rot_z(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


# --- semantic -------------------------------------------------------------------------------
def test_confusion_iou_and_miou_by_hand():
    gt = np.array([[0, 0, 1, 1],
                   [2, 2, 2, 1]])
    pred = np.array([[0, 1, 1, 1],
                     [2, 2, 0, 1]])
    conf = confusion_matrix(pred, gt, 3)
    np.testing.assert_array_equal(conf, [[1, 1, 0],
                                         [0, 3, 0],
                                         [1, 0, 2]])
    # IoU_c = TP / (row + col - TP): 1/(2+2-1), 3/(3+4-3), 2/(3+2-2)
    np.testing.assert_allclose(per_class_iou(conf), [1 / 3, 3 / 4, 2 / 3])
    assert mean_iou(conf) == pytest.approx((1 / 3 + 3 / 4 + 2 / 3) / 3)
    r = semantic_metrics(pred, gt, 3, class_names=["bg", "table", "object"])
    assert r.pixel_accuracy == pytest.approx(6 / 8)
    assert r.iou_by_name()["table"] == pytest.approx(0.75)


def test_perfect_and_absent_classes():
    gt = np.array([[0, 0, 2, 2]])
    r = semantic_metrics(gt, gt, 4)
    assert np.isnan(r.iou[1]) and np.isnan(r.iou[3])  # in neither GT nor prediction
    assert r.iou[0] == r.iou[2] == 1.0
    assert r.miou == 1.0 and r.pixel_accuracy == 1.0
    wrong = semantic_metrics(np.array([[1, 1, 1, 1]]), gt, 4)
    assert wrong.miou == 0.0  # classes 0, 1, 2 occur, all IoU 0


def test_ignore_index_and_ignore_mask():
    gt = np.array([[0, 255, 1, 1]])
    pred = np.array([[0, 1, 1, 0]])
    conf = confusion_matrix(pred, gt, 2, ignore_index=255)
    assert conf.sum() == 3
    np.testing.assert_array_equal(conf, [[1, 0], [1, 1]])
    mask = np.array([[False, True, False, True]])
    conf2 = confusion_matrix(pred, gt, 2, ignore_index=255, ignore=mask)
    np.testing.assert_array_equal(conf2, [[1, 0], [0, 1]])
    with pytest.raises(InvalidFrameError, match="ignore_index"):
        confusion_matrix(pred, gt, 2)  # 255 is not a class


def test_pooling_sums_confusion_matrices():
    a = semantic_metrics(np.array([[0, 0]]), np.array([[0, 0]]), 2)
    b = semantic_metrics(np.array([[1, 1, 1, 0]]), np.array([[1, 1, 1, 1]]), 2)
    pooled = pool_semantic([a, b])
    np.testing.assert_array_equal(pooled.confusion, [[2, 0], [1, 3]])
    np.testing.assert_allclose(pooled.iou, [2 / 3, 3 / 4])
    assert isinstance(pooled, SemanticResult)
    with pytest.raises(InvalidFrameError, match="differ in size"):
        confusion_matrix(np.zeros((2, 2), int), np.zeros((2, 3), int), 2)


# --- oriented box IoU ---------------------------------------------------------------------
def test_axis_aligned_boxes_known_overlap():
    a = OrientedBox3D(np.array([1.0, 1.0, 1.0]), np.eye(3), np.array([2.0, 2.0, 2.0]))
    b = OrientedBox3D(np.array([2.0, 2.0, 1.0]), np.eye(3), np.array([2.0, 2.0, 2.0]))
    # [0,2]^3 and [1,3]x[1,3]x[0,2]: overlap 1 * 1 * 2 = 2, union 8 + 8 - 2 = 14.
    assert box_intersection_volume(a, b) == pytest.approx(2.0)
    assert oriented_box_iou(a, b) == pytest.approx(1 / 7)
    assert oriented_box_iou(a, a) == pytest.approx(1.0)
    inner = OrientedBox3D(np.array([1.0, 1.0, 1.0]), np.eye(3), np.array([1.0, 1.0, 0.5]))
    assert oriented_box_iou(a, inner) == pytest.approx(0.5 / 8)  # contained box
    far = OrientedBox3D(np.array([10.0, 0.0, 0.0]), np.eye(3), np.ones(3))
    assert oriented_box_iou(a, far) == 0.0
    touching = OrientedBox3D(np.array([3.0, 1.0, 1.0]), np.eye(3), np.array([2.0, 2.0, 2.0]))
    assert oriented_box_iou(a, touching) == pytest.approx(0.0, abs=1e-12)


def test_rotated_box_iou_against_analytic_values():
    cube = OrientedBox3D(np.zeros(3), np.eye(3), np.ones(3))
    turned = OrientedBox3D(np.zeros(3), _rot_z(45.0), np.ones(3))
    # Unit square ∩ itself turned 45°: regular octagon of inradius 1/2, area 2 (√2 - 1);
    # IoU = 2(√2-1) / (2 - 2(√2-1)) = 1/√2.
    assert box_intersection_volume(cube, turned) == pytest.approx(2 * (math.sqrt(2) - 1))
    assert oriented_box_iou(cube, turned) == pytest.approx(1 / math.sqrt(2))
    slab = OrientedBox3D(np.zeros(3), np.eye(3), np.array([2.0, 1.0, 1.0]))
    slab90 = OrientedBox3D(np.zeros(3), _rot_z(90.0), np.array([2.0, 1.0, 1.0]))
    assert oriented_box_iou(slab, slab90) == pytest.approx(1 / 3)  # 1 / (2 + 2 - 1)
    # The same box described with permuted, sign-flipped axes is the same set.
    perm = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]])
    same = OrientedBox3D(np.zeros(3), perm, np.array([1.0, 2.0, 1.0]))  # 2 m along x
    assert oriented_box_iou(slab, same) == pytest.approx(1.0)


def test_random_box_iou_matches_monte_carlo():
    rng = np.random.default_rng(0)
    for _ in range(3):
        a = OrientedBox3D(rng.normal(0, 0.05, 3), _random_rotation(rng),
                          rng.uniform(0.1, 0.3, 3))
        b = OrientedBox3D(a.center + rng.normal(0, 0.05, 3), _random_rotation(rng),
                          rng.uniform(0.1, 0.3, 3))
        pts = np.concatenate([a.corners(), b.corners()])
        samples = rng.uniform(pts.min(0), pts.max(0), size=(200_000, 3))
        ia, ib = a.contains(samples), b.contains(samples)
        mc = (ia & ib).sum() / (ia | ib).sum()
        assert oriented_box_iou(a, b) == pytest.approx(mc, abs=0.01)


def test_box_from_geometry_and_validation():
    geom = ObjectGeometry(points=np.zeros((1, 3), np.float32), colors=None,
                          centroid=np.zeros(3), box_center=np.array([0.0, 0.0, 1.0]),
                          box_rotation=_rot_z(30.0), box_extent=np.array([0.1, 0.2, 0.3]),
                          principal_axes=np.eye(3), top_normal=np.array([0.0, 0.0, -1.0]))
    box = OrientedBox3D.from_geometry(geom)
    assert box.volume == pytest.approx(0.006)
    corners = box.corners()
    assert corners.shape == (8, 3)
    np.testing.assert_allclose(corners.mean(0), [0.0, 0.0, 1.0], atol=1e-12)
    assert box.contains(corners, tol=1e-9).all()
    with pytest.raises(ValueError, match="orthonormal"):
        OrientedBox3D(np.zeros(3), np.eye(3) * 2, np.ones(3))
    with pytest.raises(ValueError, match=">= 0"):
        OrientedBox3D(np.zeros(3), np.eye(3), np.array([1.0, -1.0, 1.0]))


# --- centroid error and matching ----------------------------------------------------------
def test_centroid_error_is_euclidean_metres():
    assert centroid_error(np.array([0.0, 0.0, 1.0]), np.array([0.03, 0.04, 1.0])) == \
        pytest.approx(0.05)
    np.testing.assert_allclose(centroid_error(np.zeros((2, 3)), [[1, 0, 0], [0, 2, 0]]),
                               [1.0, 2.0])


def test_mask_iou_and_matching_by_hand():
    gt = np.zeros((2, 10, 10), bool)
    gt[0, 0:4, 0:4] = True  # 16 px
    gt[1, 6:10, 6:10] = True  # 16 px
    pred = np.zeros((3, 10, 10), bool)
    pred[0, 6:10, 6:9] = True  # 12 px inside gt 1: IoU 12/16
    pred[1, 0:4, 0:2] = True  # 8 px inside gt 0: IoU 8/16
    pred[2, 0:2, 5:9] = True  # touches nothing
    iou = mask_iou_matrix(pred, gt)
    np.testing.assert_allclose(iou, [[0, 0.75], [0.5, 0], [0, 0]])
    m = match_by_mask_iou(pred, gt, min_iou=0.6)
    assert m.pred_indices.tolist() == [0] and m.gt_indices.tolist() == [1]
    assert m.ious.tolist() == [0.75]
    assert m.unmatched_pred.tolist() == [1, 2] and m.unmatched_gt.tolist() == [0]
    # Label images and InstanceMasks work as inputs too.
    labels = np.zeros((10, 10), np.uint8)
    labels[gt[0]], labels[gt[1]] = 3, 8
    m2 = match_by_mask_iou(InstanceMasks.from_masks(pred), labels, min_iou=0.5)
    assert sorted(zip(m2.pred_indices.tolist(), m2.gt_indices.tolist())) == [(0, 1), (1, 0)]


def test_evaluate_objects_3d():
    gt = np.zeros((2, 8, 8), bool)
    gt[0, :4, :4] = True
    gt[1, 4:, 4:] = True
    pred = gt[::-1].copy()  # same objects, other order
    gt_c = np.array([[0.0, 0.0, 1.0], [0.1, 0.0, 1.0]])
    pred_c = np.array([[0.1, 0.0, 1.02], [0.0, 0.0, 1.0]])
    box = OrientedBox3D(np.zeros(3), np.eye(3), np.full(3, 0.1))
    half = OrientedBox3D(np.array([0.025, 0.0, 0.0]), np.eye(3), np.array([0.05, 0.1, 0.1]))
    r = evaluate_objects_3d(pred, gt, pred_c, gt_c, [box, half], [box, box])
    order = np.argsort(r.matching.gt_indices)
    np.testing.assert_allclose(r.centroid_errors[order], [0.0, 0.02], atol=1e-12)
    np.testing.assert_allclose(r.box_ious[order], [0.5, 1.0])
    assert r.mean_centroid_error == pytest.approx(0.01)
    assert r.precision == r.recall == 1.0
    missed = evaluate_objects_3d(np.zeros((0, 8, 8), bool), gt, np.zeros((0, 3)), gt_c)
    assert missed.recall == 0.0 and missed.precision == 1.0
    assert math.isnan(missed.mean_centroid_error)
    with pytest.raises(ValueError, match="one centroid per mask"):
        evaluate_objects_3d(pred, gt, pred_c[:1], gt_c)


# --- timing ---------------------------------------------------------------------------------
def test_latency_summary_values():
    s = latency_summary(range(1, 101))
    assert s["p50"] == pytest.approx(50.5)
    assert s["p95"] == pytest.approx(95.05)
    assert s["mean"] == pytest.approx(50.5) and s["max"] == 100.0 and s["n"] == 100
    empty = latency_summary([])
    assert empty["n"] == 0 and math.isnan(empty["p50"])


def test_stage_timer_records_nested_stages_and_failures():
    timer = StageTimer()
    for _ in range(3):
        with timer("total"):
            with timer("instance"):
                time.sleep(0.002)
    with pytest.raises(RuntimeError):
        with timer("geometry"):
            raise RuntimeError("boom")
    assert len(timer.samples_ms["instance"]) == 3 and len(timer.samples_ms["geometry"]) == 1
    assert timer.last_ms["instance"] >= 2.0
    assert all(t >= i for t, i in zip(timer.samples_ms["total"], timer.samples_ms["instance"]))
    summary = timer.summary()
    assert summary["total"]["n"] == 3 and summary["instance"]["p50"] >= 2.0
    timer.record("external", 12.5)
    assert timer.last_ms["external"] == 12.5
    timer.reset()
    assert timer.samples_ms == {} and timer.last_ms == {}
