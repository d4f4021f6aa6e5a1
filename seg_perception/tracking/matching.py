"""Association costs between two sets of objects and gated optimal assignment.

Costs are ``float64[N, M]`` matrices (rows: tracks, columns: detections);
``inf`` marks a forbidden pair. :func:`assign` solves the assignment with the
Hungarian algorithm (``scipy.optimize.linear_sum_assignment``) on a matrix
padded with "unmatched" slots, so a pair is only matched when that is cheaper
than leaving both sides unmatched, and never through a forbidden entry.

Example:
    >>> import numpy as np
    >>> cost = centroid_distances(np.array([[0.0, 0, 0], [0.04, 0, 0]]),
    ...                           np.array([[0.03, 0, 0], [0.07, 0, 0]])) / 0.08
    >>> rows, cols = assign(cost, max_cost=1.0)
    >>> rows.tolist(), cols.tolist()   # greedy nearest would pair (1, 0)
    ([0, 1], [0, 1])
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

# At import, not first use: scipy.optimize takes ~1 s to load, better paid when
# the tracker is built than in the middle of the first tracked frame.
from scipy.optimize import linear_sum_assignment

from ..results import mask_boxes  # re-exported: the tracker's boxes are these

__all__ = ["assign", "box_iou", "centroid_distances", "crop_iou", "mask_boxes", "mask_iou"]


def centroid_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``float64[N, M]`` Euclidean distances (metres) between ``float[N, 3]`` and ``float[M, 3]``.

    Rows or columns with NaN (no 3D position) give ``inf``.
    """
    a = np.asarray(a, np.float64).reshape(-1, 3)
    b = np.asarray(b, np.float64).reshape(-1, 3)
    d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    d[np.isnan(d)] = np.inf
    return d


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``float64[N, M]`` IoU of ``(x1, y1, x2, y2)`` pixel boxes (x2/y2 exclusive)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    w, h = np.moveaxis(np.clip(hi - lo, 0, None), 2, 0)
    inter = w * h
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def mask_iou(a: np.ndarray | Sequence[np.ndarray], b: np.ndarray | Sequence[np.ndarray],
             boxes_a: np.ndarray | None = None, boxes_b: np.ndarray | None = None,
             candidates: np.ndarray | None = None) -> np.ndarray:
    """``float64[N, M]`` IoU of ``N`` and ``M`` ``bool[H, W]`` masks (arrays or lists).

    Only pairs whose tight boxes overlap are compared, on the boxes'
    intersection, so the cost is the overlap area rather than ``N * M * H * W``.

    Args:
        boxes_a, boxes_b: the masks' tight boxes (:func:`mask_boxes`) if already
            known; they must contain the whole mask (areas are counted inside them).
        candidates: ``bool[N, M]``, pairs worth comparing (others get 0), e.g. a
            distance gate.
    """
    a = [np.asarray(m, bool) for m in a]
    b = [np.asarray(m, bool) for m in b]
    shapes = {m.shape for m in a} | {m.shape for m in b}
    if len(shapes) > 1:
        raise ValueError(f"mask_iou: mask sizes differ: {sorted(shapes)}")
    ba = mask_boxes(a) if boxes_a is None else np.asarray(boxes_a, np.int64).reshape(-1, 4)
    bb = mask_boxes(b) if boxes_b is None else np.asarray(boxes_b, np.int64).reshape(-1, 4)
    crops_a = [m[y0:y1, x0:x1] for m, (x0, y0, x1, y1) in zip(a, ba.tolist())]
    crops_b = [m[y0:y1, x0:x1] for m, (x0, y0, x1, y1) in zip(b, bb.tolist())]
    return crop_iou(crops_a, ba, crops_b, bb, candidates)


def crop_iou(crops_a: Sequence[np.ndarray], boxes_a: np.ndarray,
             crops_b: Sequence[np.ndarray], boxes_b: np.ndarray,
             candidates: np.ndarray | None = None) -> np.ndarray:
    """``float64[N, M]`` IoU of masks given as ``bool[h, w]`` crops in their boxes.

    Crop ``k`` of a side covers exactly ``boxes[k]`` (``int[N, 4]`` ``(x0, y0, x1, y1)``,
    exclusive ends, in one image): :meth:`SceneObject.mask_crop`. Only pairs whose boxes
    overlap (and are ``candidates``) are compared, on the boxes' intersection.
    """
    ba = np.asarray(boxes_a, np.int64).reshape(-1, 4)
    bb = np.asarray(boxes_b, np.int64).reshape(-1, 4)
    area_a = np.array([np.count_nonzero(c) for c in crops_a])
    area_b = np.array([np.count_nonzero(c) for c in crops_b])
    iou = np.zeros((len(crops_a), len(crops_b)))
    if not len(crops_a) or not len(crops_b):
        return iou
    x1 = np.maximum(ba[:, None, 0], bb[None, :, 0])
    y1 = np.maximum(ba[:, None, 1], bb[None, :, 1])
    x2 = np.minimum(ba[:, None, 2], bb[None, :, 2])
    y2 = np.minimum(ba[:, None, 3], bb[None, :, 3])
    overlap = (x2 > x1) & (y2 > y1)
    if candidates is not None:
        overlap &= np.asarray(candidates, bool)
    for i, j in zip(*np.nonzero(overlap)):  # overlapping pairs only
        ys, ye, xs, xe = y1[i, j], y2[i, j], x1[i, j], x2[i, j]
        inter = np.count_nonzero(crops_a[i][ys - ba[i, 1]:ye - ba[i, 1], xs - ba[i, 0]:xe - ba[i, 0]]
                                 & crops_b[j][ys - bb[j, 1]:ye - bb[j, 1], xs - bb[j, 0]:xe - bb[j, 0]])
        iou[i, j] = inter / (area_a[i] + area_b[j] - inter)
    return iou


def assign(cost: np.ndarray, max_cost: float) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost matching of rows to columns with gating.

    Leaving a row or a column unmatched costs ``max_cost / 2``, so a pair is
    matched only if its cost is below ``max_cost``; entries ``> max_cost`` or
    non-finite are never matched. Ties are broken deterministically (the
    solver is deterministic for a given matrix).

    Args:
        cost: ``float[N, M]``.
        max_cost: gate, ``> 0``.

    Returns:
        ``(rows int64[K], cols int64[K])`` matched pairs, ``rows`` ascending.
    """
    cost = np.asarray(cost, np.float64)
    n, m = cost.shape
    if n == 0 or m == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if max_cost <= 0:
        raise ValueError(f"assign: max_cost must be > 0, got {max_cost}")
    gated = np.where(np.isfinite(cost) & (cost <= max_cost), cost, np.inf)
    # [[C, row dummies], [column dummies, 0]]: an always feasible square problem.
    big = np.full((n + m, n + m), np.inf)
    big[:n, :m] = gated
    big[n:, m:] = 0.0
    big[np.arange(n), m + np.arange(n)] = max_cost / 2
    big[n + np.arange(m), np.arange(m)] = max_cost / 2
    rows, cols = linear_sum_assignment(big)
    real = (rows < n) & (cols < m)
    rows, cols = rows[real], cols[real]
    ok = np.isfinite(gated[rows, cols])
    return rows[ok].astype(np.int64), cols[ok].astype(np.int64)
