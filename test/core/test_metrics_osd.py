"""Overlap / boundary P/R/F of seg_perception.metrics.osd against hand-computed values
and against a literal port of the published UOIS/UCN evaluation loop."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from seg_perception.errors import InvalidFrameError
from seg_perception.metrics import OSDResult, aggregate_osd, boundary_map, osd_metrics
from seg_perception.metrics.osd import (OCID_MIN_SEGMENT_DEPTH, OSD_MIN_SEGMENT_DEPTH,
                                        remove_segments_without_depth)


# --- literal port of the reference (chrisdxie/uois, NVlabs/UnseenObjectClustering) -------
def _ref_seg2bmap(seg):
    seg = seg.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


def _ref_disk(r):
    ax = np.arange(-r, r + 1)
    return ((ax[:, None] ** 2 + ax[None, :] ** 2) <= r * r).astype(np.uint8)


def _ref_metrics(prediction, gt, bound_th=0.003):
    labels_gt = np.unique(gt)
    labels_gt = labels_gt[labels_gt != 0]
    labels_pred = np.unique(prediction)
    labels_pred = labels_pred[labels_pred != 0]
    bound_pix = bound_th if bound_th >= 1 else np.ceil(bound_th * np.linalg.norm(gt.shape))
    kernel = _ref_disk(int(bound_pix))
    F = np.zeros((len(labels_gt), len(labels_pred)))
    tps = np.zeros_like(F)
    bstuff = np.zeros(F.shape + (2,))
    for i, g in enumerate(labels_gt):
        gm = gt == g
        for j, p in enumerate(labels_pred):
            pm = prediction == p
            tp = np.count_nonzero(pm & gm)
            tps[i, j] = tp
            prec, rec = tp / pm.sum(), tp / gm.sum()
            if prec + rec > 0:
                F[i, j] = 2 * prec * rec / (prec + rec)
            fb, gb = _ref_seg2bmap(pm), _ref_seg2bmap(gm)
            gd = cv2.dilate(gb.astype(np.uint8), kernel)
            fd = cv2.dilate(fb.astype(np.uint8), kernel)
            bstuff[i, j] = (np.sum(fb & (gd > 0)), np.sum(gb & (fd > 0)))
    bp_den = sum(_ref_seg2bmap(prediction == p).sum() for p in labels_pred)
    br_den = sum(_ref_seg2bmap(gt == g).sum() for g in labels_gt)
    rows, cols = linear_sum_assignment(F.max() - F)
    idx = (rows, cols)
    P = tps[idx].sum() / np.sum(prediction > 0)
    R = tps[idx].sum() / np.sum(gt > 0)
    BP = bstuff[idx][:, 0].sum() / bp_den
    BR = bstuff[idx][:, 1].sum() / br_den
    return {
        "overlap_precision": P, "overlap_recall": R,
        "overlap_f": 0.0 if P + R == 0 else 2 * P * R / (P + R),
        "boundary_precision": BP, "boundary_recall": BR,
        "boundary_f": 0.0 if BP + BR == 0 else 2 * BP * BR / (BP + BR),
        "obj_detected": len(labels_pred), "obj_gt": len(labels_gt),
        "obj_detected_075": int(np.sum(F[idx] > 0.75)),
        "obj_detected_075_percentage": np.sum(F[idx] > 0.75) / len(labels_gt),
    }


def _random_scene(rng, h=60, w=80, n=5):
    labels = np.zeros((h, w), np.uint16)
    for k in range(1, n + 1):
        y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
        labels[y:y + rng.integers(4, 20), x:x + rng.integers(4, 25)] = k
    return labels


def _perturb(rng, gt):
    pred = np.roll(gt, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), axis=(0, 1))
    ids = np.unique(pred)[1:]
    if ids.size >= 2:  # merge two objects
        pred[pred == ids[1]] = ids[0]
    noise = rng.random(gt.shape) < 0.03
    pred[noise] = rng.integers(0, 9, size=int(noise.sum()))
    y, x = rng.integers(0, gt.shape[0] - 6), rng.integers(0, gt.shape[1] - 6)
    pred[y:y + 5, x:x + 5] = 40  # a false positive blob
    return pred


# --- boundary map -------------------------------------------------------------------------
def test_boundary_map_matches_reference_seg2bmap():
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = rng.random((13, 17)) < 0.4
        np.testing.assert_array_equal(boundary_map(m), _ref_seg2bmap(m))
    full = np.ones((5, 6), bool)  # a mask filling the frame has no boundary
    assert not boundary_map(full).any()


def test_boundary_map_of_square_is_shifted_ring():
    m = np.zeros((8, 8), bool)
    m[2:5, 2:5] = True
    ring = np.zeros((8, 8), bool)
    ring[1:5, 1:5] = True
    ring[2:4, 2:4] = False  # the 4x4 outline rows/cols 1..4: 12 pixels
    np.testing.assert_array_equal(boundary_map(m), ring)


# --- hand-computed cases -------------------------------------------------------------------
def test_perfect_prediction_is_one_and_label_values_do_not_matter():
    gt = np.zeros((120, 160), np.uint16)
    gt[10:50, 20:60] = 3
    gt[60:100, 70:150] = 9
    gt[5:15, 100:120] = 2
    pred = np.zeros_like(gt)  # same partition, other label values
    pred[gt == 3], pred[gt == 9], pred[gt == 2] = 7, 1, 500
    r = osd_metrics(pred, gt)
    assert isinstance(r, OSDResult)
    for name in ("overlap_precision", "overlap_recall", "overlap_f", "boundary_precision",
                 "boundary_recall", "boundary_f", "obj_detected_075_percentage"):
        assert getattr(r, name) == pytest.approx(1.0), name
    assert (r.obj_detected, r.obj_gt, r.obj_detected_075) == (3, 3, 3)
    assert sorted(r.matches) == [(2, 500, 1.0), (3, 7, 1.0), (9, 1, 1.0)]
    assert r.boundary_tolerance_px == 1  # ceil(0.003 * 200)


def test_shifted_square_overlap_and_boundary_by_hand():
    gt = np.zeros((8, 8), np.uint8)
    gt[2:5, 2:5] = 1
    pred = np.zeros_like(gt)
    pred[2:5, 3:6] = 1  # one column to the right: 6 of 9 pixels shared
    exact = osd_metrics(pred, gt, boundary_width=0)  # no tolerance: exact boundary pixels
    assert exact.overlap_precision == pytest.approx(6 / 9)
    assert exact.overlap_recall == pytest.approx(6 / 9)
    assert exact.overlap_f == pytest.approx(6 / 9)
    # Boundary rings (12 px each) share their top and bottom rows minus one column: 6 px.
    assert exact.boundary_precision == pytest.approx(6 / 12)
    assert exact.boundary_recall == pytest.approx(6 / 12)
    assert exact.boundary_f == pytest.approx(0.5)
    assert exact.obj_detected_075 == 0  # pair F = 2/3 is not > 0.75
    assert exact.obj_detected_075_percentage == 0.0
    tolerant = osd_metrics(pred, gt, boundary_width=1)  # 1 px: every ring pixel is in reach
    assert tolerant.boundary_precision == pytest.approx(1.0)
    assert tolerant.boundary_recall == pytest.approx(1.0)
    assert tolerant.overlap_f == pytest.approx(6 / 9)  # tolerance never touches overlap


def test_merged_objects_by_hand():
    gt = np.zeros((4, 6), np.uint8)
    gt[:, :3] = 1
    gt[:, 3:] = 2
    pred = np.ones_like(gt)  # both GT objects merged into one prediction
    r = osd_metrics(pred, gt)
    # Pair F = 2*12/(12+24) = 2/3 for both; one is matched: 12 px of 24 predicted / 24 GT.
    assert r.overlap_precision == pytest.approx(0.5)
    assert r.overlap_recall == pytest.approx(0.5)
    assert r.overlap_f == pytest.approx(0.5)
    assert (r.obj_detected, r.obj_gt, r.obj_detected_075) == (1, 2, 0)
    assert len(r.matches) == 1 and r.matches[0][2] == pytest.approx(2 / 3)
    # A mask filling the frame has no boundary pixel: boundary precision is 1 (the
    # reference's 0/0 = NaN), and the GT boundary between the two objects is never found.
    assert r.boundary_precision == 1.0
    assert r.boundary_recall == 0.0
    assert r.boundary_f == 0.0


def test_oversegmentation_and_false_positive_by_hand():
    gt = np.zeros((10, 10), np.uint8)
    gt[0:4, 0:8] = 1  # 32 px
    pred = np.zeros_like(gt)
    pred[0:4, 0:6] = 1  # 24 px inside GT: F = 48/56 = 0.857 > 0.75
    pred[0:4, 6:8] = 2  # 8 px inside GT, unmatched
    pred[7:9, 7:9] = 3  # 4 px false positive
    r = osd_metrics(pred, gt)
    assert r.overlap_precision == pytest.approx(24 / 36)
    assert r.overlap_recall == pytest.approx(24 / 32)
    p, q = 24 / 36, 24 / 32
    assert r.overlap_f == pytest.approx(2 * p * q / (p + q))
    assert (r.obj_detected, r.obj_detected_075, r.obj_gt) == (3, 1, 1)
    assert r.obj_detected_075_percentage == 1.0
    assert r.matches == ((1, 1, pytest.approx(48 / 56)),)


def test_empty_cases_follow_reference():
    gt = np.zeros((6, 6), np.uint8)
    gt[1:3, 1:3] = 1
    none = np.zeros_like(gt)
    miss = osd_metrics(none, gt)
    assert (miss.overlap_precision, miss.overlap_recall, miss.overlap_f) == (1.0, 0.0, 0.0)
    assert (miss.boundary_precision, miss.boundary_recall, miss.boundary_f) == (1.0, 0.0, 0.0)
    assert (miss.obj_gt, miss.obj_detected, miss.obj_detected_075_percentage) == (1, 0, 0.0)
    ghost = osd_metrics(gt, none)
    assert (ghost.overlap_precision, ghost.overlap_recall, ghost.overlap_f) == (0.0, 1.0, 0.0)
    assert ghost.obj_detected_075_percentage == 0.0
    nothing = osd_metrics(none, none)
    assert nothing.overlap_f == nothing.boundary_f == nothing.obj_detected_075_percentage == 1.0


def test_ignore_mask_drops_pixels_from_both():
    gt = np.zeros((20, 20), np.uint16)
    gt[2:12, 2:12] = 1
    no_depth = np.zeros(gt.shape, bool)
    no_depth[2:12, 7:12] = True  # right half of the object has no depth
    pred = np.where(no_depth, 0, gt)  # the segmenter (correctly) only saw the valid half
    plain = osd_metrics(pred, gt)
    assert plain.overlap_precision == pytest.approx(1.0)
    assert plain.overlap_recall == pytest.approx(0.5)
    ignored = osd_metrics(pred, gt, ignore=no_depth)
    assert ignored.overlap_f == pytest.approx(1.0)
    assert ignored.boundary_f == pytest.approx(1.0)
    # A prediction bleeding into ignored pixels is not penalised either.
    assert osd_metrics(gt, gt, ignore=no_depth).overlap_f == pytest.approx(1.0)


def _ref_filter_labels_depth(label, depth_z, threshold):
    """Literal port of UCN's ``filter_labels_depth`` (lib/fcn/test_dataset.py), one frame."""
    out = label.copy()
    ids = np.unique(label)
    for mask_id in ids[ids != 0]:
        mask = label == mask_id
        if np.sum(depth_z[mask] > 0) / np.sum(mask) < threshold:
            out[mask] = 0
    return out


def test_reference_thresholds_are_ucns():
    # test_segnet: 0.8 for datasets named 'osd', 0.5 for 'ocid'.
    assert (OSD_MIN_SEGMENT_DEPTH, OCID_MIN_SEGMENT_DEPTH) == (0.8, 0.5)


@pytest.mark.parametrize("seed", range(4))
def test_segment_depth_filter_matches_reference(seed):
    rng = np.random.default_rng(seed)
    pred = _perturb(rng, _random_scene(rng))
    depth = rng.uniform(0.5, 1.5, pred.shape).astype(np.float32)
    # Holes of every size: some segments lose a little depth, some most of it.
    for _ in range(6):
        y, x = rng.integers(0, pred.shape[0] - 20), rng.integers(0, pred.shape[1] - 20)
        h, w = rng.integers(5, 40, 2)
        depth[y:y + h, x:x + w] = 0.0
    for threshold in (OCID_MIN_SEGMENT_DEPTH, OSD_MIN_SEGMENT_DEPTH, 0.0, 1.0):
        got = remove_segments_without_depth(pred, depth > 0, threshold)
        np.testing.assert_array_equal(got, _ref_filter_labels_depth(pred, depth, threshold))
        assert got.dtype == pred.dtype
    # Not vacuous: the holes remove some segments and keep others.
    strict = remove_segments_without_depth(pred, depth > 0, OSD_MIN_SEGMENT_DEPTH)
    assert 0 < len(np.unique(strict)) < len(np.unique(pred))


def test_segment_mostly_without_depth_is_removed_and_gt_is_not_touched():
    gt = np.zeros((20, 30), np.uint16)
    gt[2:12, 2:12] = 1
    gt[2:12, 16:26] = 2
    has_depth = np.ones(gt.shape, bool)
    has_depth[2:12, 16:24] = False  # 80 % of object 2 has no depth (a dark or shiny object)
    kept = remove_segments_without_depth(gt, has_depth, OSD_MIN_SEGMENT_DEPTH)
    np.testing.assert_array_equal(kept, np.where(gt == 2, 0, gt))
    # Exactly at the threshold a segment stays (the reference removes on "<").
    has_depth[2:12, 18:24] = True  # 2 of 10 columns left without depth: 80 % with depth
    assert (remove_segments_without_depth(gt, has_depth, 0.8) == 2).sum() == 100
    # Scored against the full GT, the removed segment is a miss, not an ignored region.
    r = osd_metrics(kept, gt)
    assert r.overlap_precision == pytest.approx(1.0) and r.overlap_recall == pytest.approx(0.5)
    with pytest.raises(ValueError, match="min_fraction"):
        remove_segments_without_depth(gt, has_depth, 1.5)
    with pytest.raises(InvalidFrameError, match="depth mask"):
        remove_segments_without_depth(gt, has_depth[:5], 0.5)


def test_tolerance_radius_follows_image_diagonal():
    gt = np.zeros((480, 640), np.uint8)
    gt[100:200, 100:200] = 1
    assert osd_metrics(gt, gt).boundary_tolerance_px == 3  # ceil(0.003 * 800)
    assert osd_metrics(gt, gt, boundary_width=5).boundary_tolerance_px == 5


# --- against the reference loop -----------------------------------------------------------
@pytest.mark.parametrize("seed", range(8))
def test_matches_reference_implementation(seed):
    rng = np.random.default_rng(seed)
    gt = _random_scene(rng)
    pred = _perturb(rng, gt)
    ref = _ref_metrics(pred, gt, bound_th=0.003 if seed % 2 else 2)
    got = osd_metrics(pred, gt, boundary_width=0.003 if seed % 2 else 2).as_dict()
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_large_label_values_use_the_same_definitions():
    rng = np.random.default_rng(3)
    gt = _random_scene(rng)
    pred = _perturb(rng, gt)
    big_gt = np.where(gt > 0, gt.astype(np.uint32) + 3_000_000, 0).astype(np.uint32)
    big_pred = np.where(pred > 0, pred.astype(np.uint32) * 1_000_003, 0).astype(np.uint32)
    a = osd_metrics(pred, gt).as_dict()
    b = osd_metrics(big_pred, big_gt).as_dict()
    assert a == pytest.approx(b)


# --- aggregation and errors ----------------------------------------------------------------
def test_aggregate_is_mean_of_frames():
    gt = np.zeros((8, 8), np.uint8)
    gt[2:5, 2:5] = 1
    shifted = np.zeros_like(gt)
    shifted[2:5, 3:6] = 1
    frames = [osd_metrics(gt, gt), osd_metrics(shifted, gt)]
    agg = aggregate_osd(frames)
    assert agg["overlap_f"] == pytest.approx((1.0 + 6 / 9) / 2)
    assert agg["obj_detected_075_percentage"] == pytest.approx(0.5)
    assert agg["num_frames"] == 2 and agg["obj_gt_total"] == 2
    assert agg["obj_detected_075_total"] == 1
    pct = aggregate_osd(frames, percent=True)
    assert pct["overlap_f"] == pytest.approx(100 * agg["overlap_f"])
    assert pct["obj_gt"] == agg["obj_gt"] == 1.0  # counts are not scaled
    with pytest.raises(ValueError, match="at least one"):
        aggregate_osd([])


def test_bad_inputs_raise_with_fix():
    gt = np.zeros((4, 4), np.uint8)
    with pytest.raises(InvalidFrameError, match="differ in size"):
        osd_metrics(np.zeros((4, 5), np.uint8), gt)
    with pytest.raises(InvalidFrameError, match="astype"):
        osd_metrics(gt.astype(np.float32), gt)
    with pytest.raises(InvalidFrameError, match="negative"):
        osd_metrics(gt.astype(np.int32) - 1, gt)
    with pytest.raises(InvalidFrameError, match="ignore mask"):
        osd_metrics(gt, gt, ignore=np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="boundary_width"):
        osd_metrics(gt, gt, boundary_width=-1)
