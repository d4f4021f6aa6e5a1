"""Unseen-object instance segmentation metrics (OSD / OCID protocol).

The overlap and boundary precision / recall / F-measure of Xie et al.,
"Unseen Object Instance Segmentation for Robotic Environments" (UOIS, T-RO 2021)
and Xiang et al., "Learning RGB-D Feature Embeddings for Unseen Object Instance
Segmentation" (UCN, CoRL 2020), modelled on Dave et al. (arXiv 2019). This module
re-implements the published evaluation code (``multilabel_metrics`` in
``chrisdxie/uois`` and ``NVlabs/UnseenObjectClustering``) with a contingency
matrix instead of per-pair mask loops; the definitions are the same.

Conventions: label images are integer ``[H, W]`` arrays in one pixel grid,
``0`` = background (table, floor, no object), every other value is one object
(values need not be consecutive). All returned metrics are fractions in
``[0, 1]``; the papers print them multiplied by 100.

Example:
    >>> import numpy as np
    >>> gt = np.zeros((120, 160), np.uint16); gt[20:60, 30:70] = 1; gt[70:100, 90:140] = 2
    >>> r = osd_metrics(gt, gt)
    >>> (r.overlap_f, r.boundary_f, r.obj_detected_075_percentage)
    (1.0, 1.0, 1.0)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np

from ..errors import InvalidFrameError

__all__ = ["OCID_MIN_SEGMENT_DEPTH", "OSDResult", "OSD_MIN_SEGMENT_DEPTH", "aggregate_osd",
           "boundary_map", "osd_metrics", "remove_segments_without_depth"]

# Reference default: the tolerance band is 0.3 % of the image diagonal
# (3 px at 640x480), the DAVIS f_boundary convention the UOIS code copies.
DEFAULT_BOUNDARY_WIDTH = 0.003
# Reference threshold of a "detected" object: matched F-measure strictly above it.
DETECTED_F_THRESHOLD = 0.75
# UCN's evaluation (NVlabs/UnseenObjectClustering, lib/fcn/test_dataset.py: test_segnet
# calls filter_labels_depth before multilabel_metrics) zeroes every predicted segment whose
# share of pixels with depth (z > 0) is below a threshold: 0.8 on OSD, 0.5 on OCID. The
# ground truth is scored in full (lib/datasets/osd_object.py loads it untouched by depth).
OSD_MIN_SEGMENT_DEPTH = 0.8
OCID_MIN_SEGMENT_DEPTH = 0.5


@dataclass(frozen=True)
class OSDResult:
    """Metrics of one frame; fractions in ``[0, 1]`` (multiply by 100 to compare with papers).

    Attributes:
        overlap_precision: ``sum_matched |P_j ∩ G_i| / |union of predicted objects|``.
        overlap_recall: ``sum_matched |P_j ∩ G_i| / |union of GT objects|``.
        overlap_f: ``2 P R / (P + R)`` of the two above (0 when both are 0).
        boundary_precision: ``sum_matched |B(P_j) ∩ D(B(G_i))| / sum_j |B(P_j)|``.
        boundary_recall: ``sum_matched |B(G_i) ∩ D(B(P_j))| / sum_i |B(G_i)|``.
        boundary_f: ``2 P R / (P + R)`` of the boundary precision and recall.
        obj_detected: number of predicted objects (reference name; all of them, matched or not).
        obj_detected_075: number of Hungarian matches whose pair F-measure is > 0.75.
        obj_gt: number of GT objects.
        obj_detected_075_percentage: ``obj_detected_075 / obj_gt`` (1.0 when both frames are
            empty, 0.0 when there are predictions but no GT).
        boundary_tolerance_px: radius ``r`` of the disk ``D`` used to dilate boundaries.
        matches: ``(gt_label, pred_label, F)`` of every Hungarian pair, original label values.
    """

    overlap_precision: float
    overlap_recall: float
    overlap_f: float
    boundary_precision: float
    boundary_recall: float
    boundary_f: float
    obj_detected: int
    obj_detected_075: int
    obj_gt: int
    obj_detected_075_percentage: float
    boundary_tolerance_px: int
    matches: tuple[tuple[int, int, float], ...] = ()

    def as_dict(self) -> dict[str, float]:
        """The scalar metrics by field name (``matches`` left out)."""
        d = asdict(self)
        d.pop("matches")
        return d


# Metric fields averaged by :func:`aggregate_osd`; the first seven are fractions.
_FRACTION_FIELDS = ("overlap_precision", "overlap_recall", "overlap_f",
                    "boundary_precision", "boundary_recall", "boundary_f",
                    "obj_detected_075_percentage")
_COUNT_FIELDS = ("obj_detected", "obj_detected_075", "obj_gt")


def _check_labels(labels: np.ndarray, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise InvalidFrameError(f"{name} must be a 2-D label image [H, W], got shape "
                                f"{labels.shape}; pass one frame at a time")
    if labels.dtype == bool:
        return labels.astype(np.uint8)
    if not np.issubdtype(labels.dtype, np.integer):
        raise InvalidFrameError(f"{name} has dtype {labels.dtype}; label images must be "
                                "integers (cast with .astype(np.uint16))")
    if labels.size and np.issubdtype(labels.dtype, np.signedinteger) and labels.min() < 0:
        raise InvalidFrameError(f"{name} has negative labels; use 0 for background and "
                                "positive values for objects")
    return labels


def _compact(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, compact)``: sorted non-zero label values and ``int32[H, W]`` with 0 kept
    as background and ``k + 1`` for ``ids[k]``."""
    flat = labels.ravel()
    top = int(flat.max()) if flat.size else 0
    if top < (1 << 20):  # a lookup table beats np.unique's sort for ordinary label ranges
        present = np.bincount(flat, minlength=top + 1) > 0
        present[0] = False
        ids = np.flatnonzero(present)
        lut = np.zeros(top + 1, np.int32)
        lut[ids] = np.arange(1, ids.size + 1, dtype=np.int32)
        return ids, lut[labels]
    ids, inverse = np.unique(flat, return_inverse=True)
    if ids.size and ids[0] == 0:
        ids = ids[1:]
        compact = inverse.astype(np.int32)
    else:
        compact = inverse.astype(np.int32) + 1
    return ids, compact.reshape(labels.shape)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """``bool[H, W]`` one-pixel boundary of ``bool[H, W]`` ``mask`` (``seg2bmap``).

    Pixel ``p`` is a boundary pixel when the mask value at ``p`` differs from its right,
    lower or lower-right neighbour, so the boundary sits half a pixel towards the origin
    (outside the mask on its top/left side, inside on its bottom/right side). On the last
    row only the right neighbour counts, on the last column only the lower one, and the
    bottom-right corner is never a boundary pixel; replicating the last row and column
    gives exactly these rules.
    """
    seg = np.asarray(mask, dtype=bool)
    p = np.pad(seg, ((0, 1), (0, 1)), mode="edge")
    return (seg ^ p[:-1, 1:]) | (seg ^ p[1:, :-1]) | (seg ^ p[1:, 1:])


def _boundary_counts(compact: np.ndarray, n: int) -> np.ndarray:
    """``int64[n + 1]`` ``|boundary_map(compact == k)|`` for every label ``k`` at once.

    ``p`` is on the boundary of ``k`` iff ``k`` is one of the four labels at
    ``p``, right, below, below-right and those four are not all equal.
    """
    p = np.pad(compact, ((0, 1), (0, 1)), mode="edge")
    quad = (compact, p[:-1, 1:], p[1:, :-1], p[1:, 1:])
    mixed = (quad[0] != quad[1]) | (quad[0] != quad[2]) | (quad[0] != quad[3])
    v = np.sort(np.stack([q[mixed] for q in quad], axis=1), axis=1)
    first = np.ones((v.shape[0], 1), bool)
    distinct = np.concatenate([first, v[:, 1:] != v[:, :-1]], axis=1)
    return np.bincount(v[distinct], minlength=n + 1).astype(np.int64)


def _disk(radius: int) -> np.ndarray:
    """``bool[2r+1, 2r+1]`` ``x**2 + y**2 <= r**2`` (skimage.morphology.disk)."""
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2) <= radius * radius


def _tolerance_px(boundary_width: float, shape: tuple[int, int]) -> int:
    if not np.isfinite(boundary_width) or boundary_width < 0:
        raise ValueError(f"boundary_width={boundary_width} must be >= 0: a fraction of the "
                         "image diagonal (< 1) or a radius in pixels (>= 1)")
    if boundary_width >= 1:
        return int(round(boundary_width))
    return int(math.ceil(boundary_width * math.hypot(*shape)))


def remove_segments_without_depth(labels: np.ndarray, has_depth: np.ndarray,
                                  min_fraction: float) -> np.ndarray:
    """``labels`` with every segment whose share of pixels with depth is below
    ``min_fraction`` set to background (UCN's ``filter_labels_depth``).

    Args:
        labels: integer ``[H, W]`` predicted segments, 0 = background.
        has_depth: ``bool[H, W]``, True where the sensor measured depth.
        min_fraction: in ``[0, 1]``; a segment is kept when
            ``|segment with depth| / |segment| >= min_fraction`` (the reference removes it
            on ``<``), so 0 keeps everything.

    Example:
        >>> labels = np.array([[1, 1, 2, 2]]); has_depth = np.array([[True, True, True, False]])
        >>> remove_segments_without_depth(labels, has_depth, 0.8).tolist()
        [[1, 1, 0, 0]]
    """
    labels = _check_labels(labels, "labels")
    has_depth = np.asarray(has_depth, dtype=bool)
    if has_depth.shape != labels.shape:
        raise InvalidFrameError(f"depth mask {has_depth.shape} does not match the label image "
                                f"{labels.shape}")
    if not 0.0 <= min_fraction <= 1.0:
        raise ValueError(f"min_fraction={min_fraction} must be in [0, 1] (a share of the "
                         "segment's pixels; 0 keeps every segment)")
    ids, compact = _compact(labels)
    total = np.bincount(compact.ravel(), minlength=ids.size + 1)
    with_depth = np.bincount(compact.ravel(), weights=has_depth.ravel(), minlength=ids.size + 1)
    keep = with_depth / np.maximum(total, 1) >= min_fraction  # the reference removes on "<"
    keep[0] = False
    return np.where(keep[compact], labels, 0).astype(labels.dtype, copy=False)


def _pair_boundary_tps(gt_c: np.ndarray, pred_c: np.ndarray, gi: int, pj: int,
                       gt_box: tuple[slice, slice], pred_box: tuple[slice, slice],
                       disk: np.ndarray) -> tuple[int, int]:
    """Boundary true positives of GT object ``gi`` vs predicted ``pj`` (compact labels)."""
    from scipy.ndimage import binary_dilation

    h, w = gt_c.shape
    # Boundaries lie within one pixel of the masks' boxes: a 2 px margin makes the crop's
    # inner edges all-background, so boundary_map on the crop equals the full-image one.
    y0 = max(min(gt_box[0].start, pred_box[0].start) - 2, 0)
    y1 = min(max(gt_box[0].stop, pred_box[0].stop) + 2, h)
    x0 = max(min(gt_box[1].start, pred_box[1].start) - 2, 0)
    x1 = min(max(gt_box[1].stop, pred_box[1].stop) + 2, w)
    bg = boundary_map(gt_c[y0:y1, x0:x1] == gi)
    bp = boundary_map(pred_c[y0:y1, x0:x1] == pj)
    if disk.shape[0] > 1:
        gt_dil = binary_dilation(bg, structure=disk)
        pred_dil = binary_dilation(bp, structure=disk)
    else:
        gt_dil, pred_dil = bg, bp
    return int(np.count_nonzero(bp & gt_dil)), int(np.count_nonzero(bg & pred_dil))


def _ratio(num: int, den: int) -> float:
    # Only masks filling the whole frame have no boundary pixels; nothing was claimed,
    # so nothing was wrong (the reference code returns NaN here).
    return 1.0 if den == 0 else num / den


def _f(p: float, r: float) -> float:
    return 0.0 if p + r <= 0 else 2.0 * p * r / (p + r)


def osd_metrics(pred_labels: np.ndarray, gt_labels: np.ndarray, ignore: np.ndarray | None = None,
                boundary_width: float = DEFAULT_BOUNDARY_WIDTH) -> OSDResult:
    """Overlap and boundary P/R/F of a predicted instance label image against GT.

    Args:
        pred_labels: integer ``[H, W]``, 0 = background, other values = predicted objects.
        gt_labels: integer ``[H, W]`` in the same pixel grid, 0 = background.
        ignore: optional ``bool[H, W]``; these pixels are set to background in both images
            before anything is computed. Not part of the published protocol, which scores
            the GT in full (see :func:`remove_segments_without_depth` for what it does
            with pixels without depth); cut edges appear in both boundary maps alike.
        boundary_width: tolerance of the boundary match: a fraction of the image diagonal
            when < 1 (radius ``r = ceil(width * sqrt(H**2 + W**2))``, default 0.003 → 3 px
            at 640x480, 1 px at 160x120) or a radius in pixels when >= 1.

    Returns:
        :class:`OSDResult`.

    Definitions (``G_i`` GT objects, ``P_j`` predicted objects, sets of pixels):

    * pair F-measure ``F_ij = 2 |P_j ∩ G_i| / (|P_j| + |G_i|)`` (= 2 p r / (p + r) with
      ``p = |P∩G|/|P|``, ``r = |P∩G|/|G|``);
    * Hungarian matching ``M`` of GT to predicted objects maximising ``sum F_ij``
      (``min(#G, #P)`` pairs; pairs with ``F_ij = 0`` stay in ``M`` as in the reference);
    * overlap ``P = sum_M |P_j ∩ G_i| / |∪_j P_j|``, ``R = sum_M |P_j ∩ G_i| / |∪_i G_i|``,
      ``F = 2 P R / (P + R)``;
    * boundary: ``B(X)`` = :func:`boundary_map`, ``D(.)`` = dilation by a disk of radius
      ``r``; ``P = sum_M |B(P_j) ∩ D(B(G_i))| / sum_j |B(P_j)|``,
      ``R = sum_M |B(G_i) ∩ D(B(P_j))| / sum_i |B(G_i)|``, ``F = 2 P R / (P + R)``;
    * ``obj_detected_075 = #{(i, j) in M : F_ij > 0.75}`` (strictly greater, as the
      reference code does), ``obj_detected_075_percentage = obj_detected_075 / #G``.

    Empty frames follow the reference: no prediction but GT objects gives P = 1, R = 0,
    F = 0; predictions but no GT gives P = 0, R = 1, F = 0; both empty gives 1 everywhere.
    A side without any boundary pixel (one mask covering the whole frame) gets boundary
    precision / recall 1.0 where the reference divides 0 by 0 into NaN.
    Only Hungarian tie-breaking between equal-F pairs can differ from the reference's
    ``munkres`` package, which changes boundary numbers only through zero-F pairs of
    adjacent objects.

    Example:
        >>> gt = np.zeros((4, 6), np.uint8); gt[:, :3] = 1; gt[:, 3:] = 2
        >>> pred = np.zeros_like(gt); pred[:, :4] = 1        # object 2 mostly missed
        >>> r = osd_metrics(pred, gt)
        >>> round(r.overlap_precision, 3), round(r.overlap_recall, 3)
        (0.75, 0.5)
    """
    pred = _check_labels(pred_labels, "pred_labels")
    gt = _check_labels(gt_labels, "gt_labels")
    if pred.shape != gt.shape:
        raise InvalidFrameError(f"pred_labels {pred.shape} and gt_labels {gt.shape} differ in "
                                "size; resize the prediction to the GT pixel grid first")
    radius = _tolerance_px(boundary_width, gt.shape)
    if ignore is not None:
        ignore = np.asarray(ignore, dtype=bool)
        if ignore.shape != gt.shape:
            raise InvalidFrameError(f"ignore mask {ignore.shape} does not match the label "
                                    f"images {gt.shape}")
        pred = np.where(ignore, 0, pred)
        gt = np.where(ignore, 0, gt)

    gt_ids, gt_c = _compact(gt)
    pred_ids, pred_c = _compact(pred)
    n_gt, n_pred = int(gt_ids.size), int(pred_ids.size)

    def empty(p: float, r: float, f: float, pct: float) -> OSDResult:
        return OSDResult(p, r, f, p, r, f, n_pred, 0, n_gt, pct, radius)

    if n_pred == 0 and n_gt > 0:
        return empty(1.0, 0.0, 0.0, 0.0)  # all false negatives
    if n_pred > 0 and n_gt == 0:
        return empty(0.0, 1.0, 0.0, 0.0)  # all false positives
    if n_pred == 0 and n_gt == 0:
        return empty(1.0, 1.0, 1.0, 1.0)  # correctly found nothing

    # Contingency matrix: row = GT label (0 = background), column = predicted label.
    cells = gt_c.ravel().astype(np.int64) * (n_pred + 1) + pred_c.ravel()
    table = np.bincount(cells, minlength=(n_gt + 1) * (n_pred + 1)).reshape(n_gt + 1, n_pred + 1)
    tp = table[1:, 1:].astype(np.float64)
    gt_area = table[1:, :].sum(axis=1).astype(np.float64)
    pred_area = table[:, 1:].sum(axis=0).astype(np.float64)
    fmeasure = 2.0 * tp / (gt_area[:, None] + pred_area[None, :])

    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(fmeasure, maximize=True)
    matched_tp = float(tp[rows, cols].sum())
    precision = matched_tp / float(pred_area.sum())
    recall = matched_tp / float(gt_area.sum())
    detected = int(np.count_nonzero(fmeasure[rows, cols] > DETECTED_F_THRESHOLD))

    from scipy.ndimage import find_objects

    gt_boxes = find_objects(gt_c, max_label=n_gt)
    pred_boxes = find_objects(pred_c, max_label=n_pred)
    disk = _disk(radius)
    b_prec_tp = b_rec_tp = 0
    for i, j in zip(rows, cols):  # one crop per matched pair, never per pixel
        p_tp, r_tp = _pair_boundary_tps(gt_c, pred_c, i + 1, j + 1, gt_boxes[i],
                                        pred_boxes[j], disk)
        b_prec_tp += p_tp
        b_rec_tp += r_tp
    b_prec = _ratio(b_prec_tp, int(_boundary_counts(pred_c, n_pred)[1:].sum()))
    b_rec = _ratio(b_rec_tp, int(_boundary_counts(gt_c, n_gt)[1:].sum()))

    matches = tuple((int(gt_ids[i]), int(pred_ids[j]), float(fmeasure[i, j]))
                    for i, j in zip(rows, cols))
    return OSDResult(
        overlap_precision=precision, overlap_recall=recall, overlap_f=_f(precision, recall),
        boundary_precision=b_prec, boundary_recall=b_rec, boundary_f=_f(b_prec, b_rec),
        obj_detected=n_pred, obj_detected_075=detected, obj_gt=n_gt,
        obj_detected_075_percentage=detected / n_gt, boundary_tolerance_px=radius,
        matches=matches)


def aggregate_osd(results: Iterable[OSDResult], *, percent: bool = False) -> dict[str, float]:
    """Mean of each per-frame metric over frames, as the UOIS / UCN tables report them.

    The papers average the per-frame values (they do not pool pixels over the dataset)
    and print P/R/F and the detected percentage multiplied by 100.

    Args:
        results: per-frame :class:`OSDResult`.
        percent: multiply the fraction metrics (P/R/F, ``obj_detected_075_percentage``) by
            100 so the numbers read like the papers' tables; counts are never scaled.

    Returns:
        ``{field: mean}`` for every scalar metric of :class:`OSDResult` (the counts become
        means per frame, as in the reference scripts) plus ``num_frames`` and
        ``obj_gt_total`` / ``obj_detected_075_total`` (sums over frames).
    """
    results = list(results)
    if not results:
        raise ValueError("aggregate_osd needs at least one OSDResult")
    scale = 100.0 if percent else 1.0
    out: dict[str, float] = {}
    for name in _FRACTION_FIELDS:
        out[name] = scale * float(np.mean([getattr(r, name) for r in results]))
    for name in _COUNT_FIELDS:
        out[name] = float(np.mean([getattr(r, name) for r in results]))
    out["num_frames"] = float(len(results))
    out["obj_gt_total"] = float(sum(r.obj_gt for r in results))
    out["obj_detected_075_total"] = float(sum(r.obj_detected_075 for r in results))
    return out
